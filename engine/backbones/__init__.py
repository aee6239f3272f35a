"""ImageNet backbones shared by the Neurons and Style pages (VGG16 offline, VGG19 optional)."""
