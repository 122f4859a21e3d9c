"""The rae_torch backend of the parity runner (runner.py holds the case logic for both backends)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import rae_torch.checkpoint
import rae_torch.rae
import rae_torch.sampling
import rae_torch.transport

from .runner import Runner, debug_module


class TorchBackend:
    name = "torch"
    checkpoint, rae, sampling, transport = rae_torch.checkpoint, rae_torch.rae, rae_torch.sampling, rae_torch.transport
    no_grad = staticmethod(torch.no_grad)

    @staticmethod
    def array(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    @staticmethod
    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy() if not torch.is_floating_point(t) else t.detach().float().cpu().numpy()

    @staticmethod
    def cat(arrays: list[torch.Tensor], axis: int = 0) -> torch.Tensor:
        return torch.cat(arrays, dim=axis)

    @staticmethod
    def full_like(a: torch.Tensor, value: int) -> torch.Tensor:
        return torch.full_like(a, value)

    @staticmethod
    def layer_norm(h, weight, bias, eps: float) -> torch.Tensor:
        return F.layer_norm(h, h.shape[-1:], weight, bias, eps)

    @staticmethod
    def forward_recording(model, keys: list[str], *args):
        """Forward hooks on the recorded submodules."""
        captured, hooks = {}, []
        for key in keys:
            name, index = debug_module(key)
            module = getattr(model, name) if index is None else getattr(model, name)[index]
            hooks.append(module.register_forward_hook(
                lambda mod, a, res, key=key: captured.__setitem__(key, res)))
        try:
            return model(*args), captured
        finally:
            for h in hooks:
                h.remove()

    def torch_rng(self, c: dict, io, what: str, transport=None, model=None):
        """The reference's draws replayed from torch's global generator, in its order (noise, then U)."""
        torch.manual_seed(c["seed"])
        if what == "time_sampling":
            x1 = self.array(io["time_sampling.input.x1"])
            return {"time_sampling.x0": self.numpy(torch.randn_like(x1)),
                    "time_sampling.draws.uniforms | torch rng": self.numpy(torch.rand((x1.shape[0],)))}
        x1, y = self.array(io["loss.input.x1"]), self.array(io["loss.input.y"])
        return {"loss.output.loss | torch rng": self.numpy(transport.loss(model, x1, y)["loss"])}


class TorchRunner(Runner):
    def __init__(self):
        super().__init__(TorchBackend())
