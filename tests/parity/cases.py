"""Backend-neutral reading of reference fixture cases: each case folder's case.json, io tensors and
weights, turned into rae_spec configs. Everything is derived from the case's contents, never from
its folder name, so other cases of the same kinds (other sizes, seeds) run unchanged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from rae_spec.configs import DecoderConfig, DiTDHConfig, EncoderConfig, LightningDiTConfig, RAEConfig
from rae_spec.encoders import encoder_kind
from rae_spec.hf import encoder_config_from_hf

KINDS = ("dinov2_encoder", "hf_encoder", "decoder", "rae_roundtrip", "ditdh", "transport")


@dataclass
class Case:
    folder: Path
    meta: dict[str, Any]
    io: dict[str, np.ndarray]

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def name(self) -> str:
        return self.meta.get("case", self.folder.name)

    def weights(self, rel: str) -> dict[str, np.ndarray]:
        return load_file(str((self.folder / rel).resolve()))

    def subset_indices(self, name: str) -> str:
        """The io key of the trajectory indices behind `<name>_subset`: the `..._subset_indices` array its
        call's `outputs` names (else the one io key of that call ending so)."""
        leaf, call = name.split(".")[-1], name.split(".")[0]
        suffix = f"{leaf}_subset_indices"
        named = [v for c in self.meta.get("calls", []) if c.get("name") == call
                 for v in _strings(c.get("outputs", {})) if v.endswith(suffix) and v in self.io]
        found = named or [k for k in self.io if k.startswith(f"{call}.") and k.endswith(suffix)]
        if len(set(found)) != 1:
            raise KeyError(f"{self.name} stores {name}_subset but {len(set(found))} index arrays for it ({found})")
        return found[0]

    def tolerances(self) -> dict[str, tuple[float, float]]:
        out = {}
        for name, tol in self.meta.get("tolerances", {}).items():
            if isinstance(tol, dict) and "atol" in tol:
                out[name] = (float(tol["atol"]), float(tol.get("rtol", 0.0)))
        return out


def _strings(node: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def find_cases(root: Path) -> list[Path]:
    return sorted(p.parent for p in Path(root).glob("*/case.json"))


def load_case(folder: Path) -> Case:
    meta = json.loads((folder / "case.json").read_text())
    return Case(folder, meta, load_file(str(folder / "io.safetensors")))


# ---------------------------------------------------------------------------------------------- configs


def dinov2_config(meta: dict) -> EncoderConfig:
    cfg = dict(meta["dinov2_config"], model_type=encoder_kind("dinov2").hf_model_types[0])
    return encoder_config_from_hf(cfg, meta.get("image_processor"))


def hf_encoder_config(meta: dict) -> EncoderConfig:
    model_type = encoder_kind(meta["encoder_kind"]).hf_model_types[0]
    pre = {"image_mean": meta["image_mean"], "image_std": meta["image_std"]}
    return encoder_config_from_hf(dict(meta["config"], model_type=model_type), pre)


def decoder_config(meta: dict) -> DecoderConfig:
    d = meta["decoder_config_effective"]
    return DecoderConfig(
        hidden_size=d["decoder_hidden_size"], num_layers=d["decoder_num_hidden_layers"],
        num_heads=d["decoder_num_attention_heads"], intermediate_size=d["decoder_intermediate_size"],
        latent_dim=d["hidden_size"], num_patches=d["num_patches"], patch_size=d["patch_size"],
        num_channels=d.get("num_channels", 3), layer_norm_eps=d["layer_norm_eps"],
        hidden_act={"gelu": "gelu"}.get(d.get("hidden_act", "gelu"), "gelu_tanh"))


def rae_config(meta: dict) -> RAEConfig:
    kw = meta["rae_kwargs"]
    return RAEConfig(encoder=dinov2_config(meta), decoder=decoder_config(meta),
                     encoder_input_size=kw["encoder_input_size"], noise_tau=kw.get("noise_tau", 0.0),
                     eps=kw.get("eps", 1e-5), reshape_to_2d=kw.get("reshape_to_2d", True))


def dit_config(model: dict) -> DiTDHConfig | LightningDiTConfig:
    cls = model.get("class", "DiTwDDTHead")
    if cls == "LightningDiT":
        kwargs = {k: v for k, v in model["kwargs"].items() if k != "use_gembed"}  # unused by the reference
        return LightningDiTConfig(**kwargs)
    if cls != "DiTwDDTHead":
        raise ValueError(f"unsupported DiT class {cls}")
    return DiTDHConfig(**model["kwargs"])


def function_of(call: dict) -> str:
    """Which reference entry point a call (or sampling mode) exercises, read from its whole entry
    (function, model_fn, notes, arguments)."""
    text = json.dumps(call)
    if "forward_with_autoguidance" in text or "additional_model_forward" in text:
        return "forward_with_autoguidance"
    if "forward_with_cfg" in text or "cfg_scale" in call:
        return "forward_with_cfg"
    return "forward"


class Either:
    """Several acceptable values for one recorded tensor. The reference generator records some
    decoder tensors with a forward hook, so they can hold the last decoder call's value instead of the
    documented call's: a match with either call's value passes, a match with neither fails."""

    def __init__(self, **candidates: np.ndarray):
        self.candidates = candidates
