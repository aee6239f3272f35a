"""Neuron browser: which image patches make each channel of a ConvNet fire most.

Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks" (2014) and Yosinski et
al.'s DeepVis toolbox (2015): run a dataset through a network, keep per channel the k images
(and positions) with the highest spatial-max activation, and crop each one's receptive field.

``backbones`` (named layers + preprocessing) → ``receptive_field`` (geometry) → ``topk``
(bounded per-channel top-k) → ``index`` (dataset run, on disk, resumable) → ``patches`` (crops
and grids); ``maximize`` is the optional activation maximisation.
"""
