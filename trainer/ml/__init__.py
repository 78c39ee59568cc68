"""Pure PyTorch + transformers training code. Nothing below this package imports Django."""
