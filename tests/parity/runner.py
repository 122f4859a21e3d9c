"""Runs reference fixture cases through one backend, written once for both: torch_runner.py and
mlx_runner.py only supply a `Backend` (array conversions, the backend's modules, and the few operations
that differ, such as recording a submodule's output). Each method returns (computed, skipped):
computed maps a tolerance name to a numpy array ("name | note" compares against io["name"] with name's
tolerance); skipped maps a name to the reason it cannot be computed on this backend."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from rae_spec.configs import GuidanceConfig, SamplerConfig, TransportConfig

from .cases import Case, Either, dit_config, function_of, hf_encoder_config, rae_config

# Module whose output each `forward.debug.*` tensor records.
DEBUG_MODULES = {"t_embedding": "t_embedder", "y_embedding": "y_embedder", "s_embedder": "s_embedder",
                 "s_projected": "s_projector", "x_embedder": "x_embedder", "final_layer_tokens": "final_layer"}


def debug_module(key: str) -> tuple[str, int | None]:
    """(attribute, block index or None) of the submodule a `<call>.debug.<leaf>` key records."""
    leaf = key.split(".")[-1]
    return ("blocks", int(leaf.split("_")[1])) if leaf.startswith("block_") else (DEBUG_MODULES[leaf], None)


class Backend(Protocol):
    name: str
    checkpoint: ModuleType  # build_model, load_into
    rae: ModuleType  # RAE, preprocess, normalize, tokens_to_latent, latent_to_tokens
    sampling: ModuleType  # Sampler, guided_velocity
    transport: ModuleType  # Transport

    def array(self, a: np.ndarray) -> Any: ...

    def numpy(self, a: Any) -> np.ndarray: ...

    def cat(self, arrays: list[Any], axis: int = 0) -> Any: ...

    def full_like(self, a: Any, value: int) -> Any: ...

    def layer_norm(self, h: Any, weight: Any, bias: Any, eps: float) -> Any: ...

    def forward_recording(self, model: Any, keys: list[str], *args: Any) -> tuple[Any, dict[str, Any]]:
        """model(*args), with the outputs of the submodules the debug `keys` name (debug_module)."""

    def no_grad(self) -> AbstractContextManager: ...

    def torch_rng(self, c: dict, io: dict, what: str, **kw: Any) -> dict[str, np.ndarray] | str:
        """Values drawn from torch's global generator (the reference's own draws), or why they cannot be."""


class Runner:
    def __init__(self, backend: Backend):
        self.b = backend
        self.name = backend.name

    def _load(self, module, config, weights: dict[str, np.ndarray]):
        return self.b.checkpoint.load_into(module, {k: self.b.array(v) for k, v in weights.items()}, config).eval()

    def _numpy(self, out: dict) -> dict[str, np.ndarray]:
        return {k: v if isinstance(v, (np.ndarray, Either)) else self.b.numpy(v) for k, v in out.items()}

    def dinov2_encoder(self, case: Case):
        m, io, A = case.meta, case.io, self.b.array
        cfg = rae_config(m)
        with self.b.no_grad():
            rae = self.b.rae.RAE(cfg).eval()
            weights = case.weights(m["weights"]["file"])
            enc = self._load(rae.encoder, cfg.encoder, weights)
            pixels = rae.preprocess(A(io["input.images"]))
            given = A(io["intermediate.encoder_input"])
            g = cfg.latent_grid
            out = {
                "intermediate.encoder_input": pixels,
                "debug.interpolated_position_embeddings": enc.position_table((g, g)),
                "debug.last_hidden_state_all_tokens": enc.forward_all(pixels),
                "output.tokens": enc(pixels),
                "output.tokens | given intermediate.encoder_input": enc(given),
                "output.latents": rae.encode(A(io["input.images"])),
            }
            skipped = {}
            if "layernorm.weight" in weights:
                affine = self.b.layer_norm(enc.hidden_states(given), A(weights["layernorm.weight"]),
                                           A(weights["layernorm.bias"]), cfg.encoder.layer_norm_eps)
                out["output.tokens_with_affine_layernorm"] = affine[:, cfg.encoder.num_leading_tokens:]
            else:
                skipped["output.tokens_with_affine_layernorm"] = "weights carry no final-LayerNorm affine"
            return self._numpy(out), skipped

    def hf_encoder(self, case: Case):
        m, io, A, r = case.meta, case.io, self.b.array, self.b.rae
        cfg = hf_encoder_config(m)
        with self.b.no_grad():
            enc = self._load(self.b.checkpoint.build_model(cfg), cfg, case.weights(m["weights"]["file"]))
            size = m["encoder_input_size"]
            pixels = r.preprocess(A(io["images"]), size, cfg.image_mean, cfg.image_std)
            g = size // cfg.patch_size
            tokens = enc(pixels)
            latent = r.tokens_to_latent(tokens)
            out = {
                "pixel_values": pixels,
                "pos_embed": enc.position_table((g, g)),
                "embeddings": enc.embed(A(io["pixel_values"])),
                "tokens": tokens,
                "latent": latent,
                "latent_normalized": r.normalize(latent, A(io["latent_mean"]), A(io["latent_var"]), 1e-5),
            }
            if "last_hidden_state_with_cls" in io:
                out["last_hidden_state_with_cls"] = enc.forward_all(pixels)
            out = self._numpy(out)
        # MAE's masking is disabled (mask_ratio 0, ascending noise): the recorded shuffle must be the identity.
        B, n = tokens.shape[:2]
        if "mask" in io:
            out["mask"] = np.zeros((B, n), np.float32)
        if "ids_restore" in io:
            out["ids_restore"] = np.broadcast_to(np.arange(n), (B, n)).astype(io["ids_restore"].dtype)
        return out, {}

    def decoder(self, case: Case):
        m, io, A, N = case.meta, case.io, self.b.array, self.b.numpy
        cfg = rae_config(m)
        with self.b.no_grad():
            rae = self.b.rae.RAE(cfg).eval()
            self._load(rae.decoder, cfg.decoder, case.weights(m["weights"]["file"]))
            latents = A(io["input.latents"])
            tokens = self.b.rae.latent_to_tokens(latents)
            logits = rae.decoder(tokens)
            out = {
                "output.pixels_unpatchified": N(rae.decoder.unpatchify(logits)),
                "output.images": N(rae.decode(latents)),
                "output.logits": N(logits),
                "intermediate.tokens": N(tokens),
            }
            if "input.small_grid_tokens" in io:
                small = A(io["input.small_grid_tokens"])
                out["extra.logits_from_small_grid"] = from_small = N(rae.decoder(small))
                out["output.logits"] = Either(decode=out["output.logits"], small_grid=from_small)
                out["intermediate.tokens"] = Either(decode=out["intermediate.tokens"], small_grid=N(small))
        return out, {}

    def rae_roundtrip(self, case: Case):
        m, io, A = case.meta, case.io, self.b.array
        w = m["weights"]
        cfg = rae_config(m)
        with self.b.no_grad():
            rae = self.b.rae.RAE(cfg)
            self._load(rae.encoder, cfg.encoder, case.weights(w["encoder"]["file"]))
            self._load(rae.decoder, cfg.decoder, case.weights(w["decoder"]["file"]))
            stats = case.weights(w["stats"]["file"])
            rae.set_stats(*(A(stats[k]) if k in stats else None for k in ("mean", "var")))
            rae.eval()
            images = A(io["input.images"])
            latents = rae.encode(images)
            out = {
                "debug.tokens": rae.encoder(rae.preprocess(images)),
                "output.latents": latents,
                "output.reconstruction": rae.decode(latents),
            }
            if "train_encode.draws.u" in io:
                rae.train()
                out["train_encode.output.latents"] = rae.encode(
                    images, noise=(A(io["train_encode.draws.u"]), A(io["train_encode.draws.eps"])))
                rae.eval()
            return self._numpy(out), {}

    def _dits(self, case: Case) -> dict:
        models = {}
        for name, spec in case.meta["models"].items():
            cfg = dit_config(spec)
            models[name] = self._load(self.b.checkpoint.build_model(cfg), cfg, case.weights(spec["weights"]))
        return models

    def ditdh(self, case: Case):
        io, A, guided_velocity = case.io, self.b.array, self.b.sampling.guided_velocity
        models = self._dits(case)
        main = models["main"]
        out = {}
        with self.b.no_grad():
            for call in case.meta["calls"]:
                name, fn = call["name"], function_of(call)
                x, t, y = (A(io[f"{name}.input.{k}"]) for k in ("x", "t", "y"))
                if fn == "forward":
                    keys = [k for k in io if k.startswith(f"{name}.debug.")]
                    out[f"{name}.output"], captured = self.b.forward_recording(main, keys, x, t, y)
                    out.update(captured)
                    continue
                scale, interval = call["cfg_scale"], tuple(call["cfg_interval"])
                if fn == "forward_with_cfg":
                    out[f"{name}.output"] = main.forward_with_cfg(x, t, y, scale, interval)
                    B = len(io[f"{name}.input.x"]) // 2
                    t_np, y_np = io[f"{name}.input.t"], io[f"{name}.input.y"]
                    if np.array_equal(t_np[:B], t_np[B:]) and bool((y_np[B:] == main.config.null_label).all()):
                        v = guided_velocity(main, y[:B], GuidanceConfig("cfg", scale, *interval))(x[:B], t[:B])
                        out[f"{name}.output | efficient cfg"] = self.b.cat([v, v])
                else:
                    guide = models["guidance"]
                    out[f"{name}.output"] = main.forward_with_autoguidance(x, t, y, scale, guide, interval)
                    out[f"{name}.output | efficient autoguidance"] = guided_velocity(
                        main, y, GuidanceConfig("autoguidance", scale, *interval), guide)(x, t)
                    out[f"{name}.debug.main_output"] = main(x, t, y)
                    out[f"{name}.debug.guidance_output"] = guide(x, t, y)
            return self._numpy(out), {}

    def transport(self, case: Case):
        io, A = case.io, self.b.array
        Sampler, Transport = self.b.sampling.Sampler, self.b.transport.Transport
        calls = {c["name"]: c for c in case.meta["calls"]}
        out, skipped = {}, {}
        if "grid" in calls:
            c = calls["grid"]
            for sname, s in c["shifts"].items():
                for n in c["steps"]:
                    out[f"grid.{sname}.steps{n}"] = Sampler(SamplerConfig(num_steps=n), s["time_dist_shift"]).grid
        if "time_sampling" in calls:
            c = calls["time_sampling"]
            U = io["time_sampling.draws.uniforms"]
            for dist in c["time_dist_types"]:
                for sname, s in c["shifts"].items():
                    tr = Transport(TransportConfig(time_dist_type=dist), shift=s["time_dist_shift"])
                    out[f"time_sampling.{dist}.{sname}.t"] = tr.time_from_uniform(U)
            drawn = self.b.torch_rng(c, io, "time_sampling")
            if isinstance(drawn, str):
                skipped["time_sampling.x0"] = drawn
            else:
                out.update(drawn)
        if "target" in calls:
            xt, ut = Transport.interpolate(A(io["target.input.t"]), A(io["target.input.x0"]), A(io["target.input.x1"]))
            out["target.output.xt"], out["target.output.ut"] = xt, ut
        models = self._dits(case) if "models" in case.meta else {}
        with self.b.no_grad():
            if "loss" in calls:
                c = calls["loss"]
                tr = Transport(TransportConfig(time_dist_type=c["time_dist_type"]), shift=c["time_dist_shift"])
                terms = tr.loss(models["main"], A(io["loss.input.x1"]), A(io["loss.input.y"]),
                                noise=A(io["loss.draws.x0"]), uniforms=io["loss.draws.uniforms"])
                out["loss.output.pred"], out["loss.output.loss"] = terms["pred"], terms["loss"]
                out["loss.debug.model_input_xt"], out["loss.debug.model_input_t"] = terms["xt"], terms["t"]
                drawn = self.b.torch_rng(c, io, "loss", transport=tr, model=models["main"])
                if not isinstance(drawn, str):
                    out.update(drawn)
            if "euler" in calls:
                out.update(self._euler(calls["euler"], io, models))
        return self._numpy(out), skipped

    def _euler(self, c: dict, io, models) -> dict:
        """Full Euler runs: the trajectory (index 0 the start), the final state and the samples."""
        cat, guided_velocity = self.b.cat, self.b.sampling.guided_velocity
        sampler = self.b.sampling.Sampler(SamplerConfig(mode="ode", method="euler", num_steps=c["num_steps"]),
                                          c["time_dist_shift"])
        z, labels = self.b.array(io["euler.input.z"]), self.b.array(io["euler.input.labels"])
        n = len(io["euler.input.z"])
        y_full = cat([labels, self.b.full_like(labels, c["null_label"])])
        out = {}
        for mode, spec in c["modes"].items():
            fn = function_of(spec)
            main = models["main"]
            if fn == "forward_with_cfg":
                g = GuidanceConfig("cfg", spec["cfg_scale"], *spec["cfg_interval"])
                traj = sampler.sample(z, guided_velocity(main, labels, g), trajectory=True)
                traj = cat([traj, traj], axis=1)  # the reference keeps [guided; guided]
            elif fn == "forward_with_autoguidance":
                g = GuidanceConfig("autoguidance", spec["cfg_scale"], *spec["cfg_interval"])
                guide = models[spec["additional_model_forward"].split(".")[0]]
                traj = sampler.sample(cat([z, z]), guided_velocity(main, y_full, g, guide), trajectory=True)
            else:
                traj = sampler.sample(cat([z, z]), lambda x, t, m=main: m(x, t, y_full), trajectory=True)
            out[f"euler.{mode}.output.trajectory"] = traj
            out[f"euler.{mode}.output.final"] = traj[-1]
            out[f"euler.{mode}.output.samples"] = traj[-1][:n]
        return out
