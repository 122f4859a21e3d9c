"""LPIPS(VGG16), the perceptual loss of stage-1 training (the taming-transformers / LPIPS v0.1 recipe).

VGG16's convolutional trunk is built here with torchvision's layer layout (`features.N`), so the
ImageNet weights torchvision publishes load unchanged, without torchvision. Features at relu1_2,
relu2_2, relu3_3, relu4_3 and relu5_3 are unit-normalized over channels; their squared differences are
weighted by 1x1 'lin' convolutions, averaged over space and summed over the five layers.
"""

from __future__ import annotations

import torch
from torch import nn

# torchvision's vgg16 configuration "D": channel counts, "M" = 2x2 max pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# Indices into `features` after which LPIPS taps the activations (relu1_2 ... relu5_3).
TAPS = (3, 8, 15, 22, 29)
CHANNELS = (64, 128, 256, 512, 512)


class VGG16Features(nn.Module):
    """torchvision.models.vgg16().features: 13 conv3x3 + ReLU, 5 max pools; keys features.{0..30}."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in VGG16_LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x)
                if i == TAPS[-1]:
                    break
        return out


class NetLinLayer(nn.Module):
    """Dropout + 1x1 conv without bias (keys lin{i}.model.1.weight, as the released vgg.pth)."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))


def _unit(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """d(x, y) per image for x, y in [-1, 1] (B, 3, H, W); frozen, always in eval mode."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.net = VGG16Features()
        for i, c in enumerate(CHANNELS):
            setattr(self, f"lin{i}", NetLinLayer(c))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:
        return super().train(False)

    def load_weights(self, vgg: dict[str, torch.Tensor], lin: dict[str, torch.Tensor]) -> LPIPS:
        """torchvision VGG16 'features.*' tensors + LPIPS 'lin{i}[.model.1].weight' tensors; strict."""
        self.net.load_state_dict({k: v for k, v in vgg.items() if k.startswith("features.")}, strict=True)
        lin_sd = {}
        for i in range(len(CHANNELS)):
            key = next((k for k in (f"lin{i}.model.1.weight", f"lin{i}.model.0.weight", f"lin{i}.weight")
                        if k in lin), None)
            if key is None:
                raise KeyError(f"LPIPS lin weights lack lin{i} (keys: {sorted(lin)[:6]})")
            lin_sd[f"lin{i}.model.1.weight"] = lin[key]
        self.load_state_dict({**{f"net.{k}": v for k, v in self.net.state_dict().items()}, **lin_sd,
                              "shift": self.shift, "scale": self.scale}, strict=True)
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fx = self.net((x - self.shift) / self.scale)
        fy = self.net((y - self.shift) / self.scale)
        total = 0.0
        for i, (a, b) in enumerate(zip(fx, fy, strict=True)):
            diff = (_unit(a) - _unit(b)) ** 2
            total = total + getattr(self, f"lin{i}").model(diff).mean(dim=(2, 3))
        return total.flatten()


def build_lpips(vgg_weights: str | None = None, lin_weights: str | None = None, random_init: bool = False) -> LPIPS:
    """LPIPS with pretrained weights (pretrained.py finds them), or random weights for tests."""
    model = LPIPS()
    if random_init:
        for i in range(len(CHANNELS)):  # LPIPS lin weights are non-negative
            getattr(model, f"lin{i}").model[1].weight.data.abs_()
        return model
    from .pretrained import lpips_lin_weights, vgg16_weights

    return model.load_weights(vgg16_weights(vgg_weights), lpips_lin_weights(lin_weights))
