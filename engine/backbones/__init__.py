"""ImageNet backbones shared by the Neurons and Style pages (VGG16 offline, VGG19 optional)."""

VGG_NAMES = ("vgg16", "vgg19")
"""The VGG weights by name, without importing torch (for the CLI's choices): the keys of
``engine.backbones.vgg.WEIGHTS`` (a test keeps the two equal)."""
