"""Shared networks, blocks and pretrained-weight loading. Models are plain nn.Modules: no losses, no I/O."""
