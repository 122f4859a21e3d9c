"""Runs reference fixture cases through rae_mlx, the twin of torch_runner.py. Each method returns
(computed, skipped): computed maps a tolerance name to a numpy array ("name | note" compares against
io["name"] with name's tolerance); skipped maps a name to the reason it cannot be computed on MLX."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from mlx import nn

from rae_mlx.checkpoint import build_model, load_into
from rae_mlx.rae import RAE, normalize, preprocess, tokens_to_latent
from rae_mlx.sampling import Sampler, guided_velocity
from rae_mlx.transport import Transport
from rae_spec.configs import GuidanceConfig, SamplerConfig, TransportConfig

from .cases import Case, Either, dit_config, function_of, hf_encoder_config, rae_config


def A(a: np.ndarray) -> mx.array:
    return mx.array(np.ascontiguousarray(a))


def N(a: mx.array) -> np.ndarray:
    return np.asarray(a.astype(mx.float32) if mx.issubdtype(a.dtype, mx.floating) else a)


def load(module, config, weights: dict[str, np.ndarray]):
    return load_into(module, weights, config).eval()


# Module whose output each `forward.debug.*` tensor records (as torch_runner's forward hooks do).
DEBUG_MODULES = {"t_embedding": "t_embedder", "y_embedding": "y_embedder", "s_embedder": "s_embedder",
                 "s_projected": "s_projector", "x_embedder": "x_embedder", "final_layer_tokens": "final_layer"}


class Tap(nn.Module):
    """Wraps a submodule and records its output: MLX's stand-in for a forward hook."""

    def __init__(self, inner: nn.Module, store: dict, key: str):
        super().__init__()
        self.inner = inner
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_key", key)

    def __getattr__(self, key: str):
        if key in self:
            return self[key]
        if "inner" not in self:
            raise AttributeError(key)
        return getattr(self["inner"], key)

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        self._store[self._key] = out
        return out


def run_with_taps(model, keys: list[str], *args):
    """Call model(*args) with the submodules named by `<call>.debug.<leaf>` keys tapped; returns
    (output, captured)."""
    captured: dict[str, mx.array] = {}
    restore = []
    for key in keys:
        leaf = key.split(".")[-1]
        if leaf.startswith("block_"):
            i = int(leaf.split("_")[1])
            restore.append(("block", i, model.blocks[i]))
            model.blocks[i] = Tap(model.blocks[i], captured, key)
        else:
            name = DEBUG_MODULES[leaf]
            restore.append(("attr", name, getattr(model, name)))
            setattr(model, name, Tap(getattr(model, name), captured, key))
    try:
        out = model(*args)
    finally:
        for kind, where, inner in reversed(restore):
            if kind == "block":
                model.blocks[where] = inner
            else:
                setattr(model, where, inner)
    return out, captured


class MLXRunner:
    name = "mlx"

    def dinov2_encoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = rae_config(m)
        rae = RAE(cfg)
        weights = case.weights(m["weights"]["file"])
        load(rae.encoder, cfg.encoder, weights)
        enc = rae.encoder
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
            h = enc.hidden_states(given)
            affine = mx.fast.layer_norm(h, A(weights["layernorm.weight"]), A(weights["layernorm.bias"]),
                                        cfg.encoder.layer_norm_eps)
            out["output.tokens_with_affine_layernorm"] = affine[:, cfg.encoder.num_leading_tokens:]
        else:
            skipped["output.tokens_with_affine_layernorm"] = "weights carry no final-LayerNorm affine"
        return {k: N(v) for k, v in out.items()}, skipped

    def hf_encoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = hf_encoder_config(m)
        enc = load(build_model(cfg), cfg, case.weights(m["weights"]["file"]))
        size = m["encoder_input_size"]
        pixels = preprocess(A(io["images"]), size, cfg.image_mean, cfg.image_std)
        g = size // cfg.patch_size
        tokens = enc(pixels)
        latent = tokens_to_latent(tokens)
        out = {
            "pixel_values": pixels,
            "pos_embed": enc.position_table((g, g)),
            "embeddings": enc.embed(A(io["pixel_values"])),
            "tokens": tokens,
            "latent": latent,
            "latent_normalized": normalize(latent, A(io["latent_mean"]), A(io["latent_var"]), 1e-5),
        }
        if "last_hidden_state_with_cls" in io:
            out["last_hidden_state_with_cls"] = enc.forward_all(pixels)
        out = {k: N(v) for k, v in out.items()}
        # MAE's masking is disabled (mask_ratio 0, ascending noise): the recorded shuffle must be the identity.
        B, n = tokens.shape[:2]
        if "mask" in io:
            out["mask"] = np.zeros((B, n), np.float32)
        if "ids_restore" in io:
            out["ids_restore"] = np.broadcast_to(np.arange(n), (B, n)).astype(io["ids_restore"].dtype)
        return out, {}

    def decoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = rae_config(m)
        rae = RAE(cfg)
        load(rae.decoder, cfg.decoder, case.weights(m["weights"]["file"]))
        latents = A(io["input.latents"])
        B, C = latents.shape[:2]
        tokens = latents.reshape(B, C, -1).transpose(0, 2, 1)
        logits = rae.decoder(tokens)
        out = {
            "output.pixels_unpatchified": N(rae.decoder.unpatchify(logits)),
            "output.images": N(rae.decode(latents)),
            "output.logits": N(logits),
            "intermediate.tokens": N(tokens),
        }
        if "input.small_grid_tokens" in io:
            small = A(io["input.small_grid_tokens"])
            out["extra.logits_from_small_grid"] = N(rae.decoder(small))
            out["output.logits"] = Either(decode=out["output.logits"], small_grid=out["extra.logits_from_small_grid"])
            out["intermediate.tokens"] = Either(decode=out["intermediate.tokens"], small_grid=N(small))
        return out, {}

    def rae_roundtrip(self, case: Case):
        m, io = case.meta, case.io
        w = m["weights"]
        cfg = rae_config(m)
        rae = RAE(cfg)
        load(rae.encoder, cfg.encoder, case.weights(w["encoder"]["file"]))
        load(rae.decoder, cfg.decoder, case.weights(w["decoder"]["file"]))
        stats = case.weights(w["stats"]["file"])
        rae.set_stats(stats.get("mean"), stats.get("var"))
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
        return {k: N(v) for k, v in out.items()}, {}

    def _dits(self, case: Case) -> dict:
        models = {}
        for name, spec in case.meta["models"].items():
            cfg = dit_config(spec)
            models[name] = load(build_model(cfg), cfg, case.weights(spec["weights"]))
        return models

    def ditdh(self, case: Case):
        io = case.io
        models = self._dits(case)
        main = models["main"]
        out = {}
        for call in case.meta["calls"]:
            name, fn = call["name"], function_of(call)
            x, t, y = (A(io[f"{name}.input.{k}"]) for k in ("x", "t", "y"))
            if fn == "forward":
                keys = [k for k in io if k.startswith(f"{name}.debug.")]
                out[f"{name}.output"], captured = run_with_taps(main, keys, x, t, y)
                out.update(captured)
                continue
            scale, interval = call["cfg_scale"], tuple(call["cfg_interval"])
            if fn == "forward_with_cfg":
                out[f"{name}.output"] = main.forward_with_cfg(x, t, y, scale, interval)
                B = x.shape[0] // 2
                null = main.config.null_label
                if np.array_equal(np.asarray(t[:B]), np.asarray(t[B:])) and bool(mx.all(y[B:] == null).item()):
                    v = guided_velocity(main, y[:B], GuidanceConfig("cfg", scale, *interval))(x[:B], t[:B])
                    out[f"{name}.output | efficient cfg"] = mx.concatenate([v, v])
            else:
                guide = models["guidance"]
                out[f"{name}.output"] = main.forward_with_autoguidance(x, t, y, scale, guide, interval)
                out[f"{name}.output | efficient autoguidance"] = guided_velocity(
                    main, y, GuidanceConfig("autoguidance", scale, *interval), guide)(x, t)
                out[f"{name}.debug.main_output"] = main(x, t, y)
                out[f"{name}.debug.guidance_output"] = guide(x, t, y)
        return {k: N(v) for k, v in out.items()}, {}

    def transport(self, case: Case):
        io = case.io
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
                    out[f"time_sampling.{dist}.{sname}.t"] = N(tr.time_from_uniform(U))
            skipped["time_sampling.x0"] = "drawn from torch's global generator, which MLX cannot replay"
        if "target" in calls:
            xt, ut = Transport.interpolate(A(io["target.input.t"]), A(io["target.input.x0"]), A(io["target.input.x1"]))
            out["target.output.xt"], out["target.output.ut"] = N(xt), N(ut)
        models = self._dits(case) if "models" in case.meta else {}
        if "loss" in calls:
            c = calls["loss"]
            tr = Transport(TransportConfig(time_dist_type=c["time_dist_type"]), shift=c["time_dist_shift"])
            terms = tr.loss(models["main"], A(io["loss.input.x1"]), A(io["loss.input.y"]),
                            noise=A(io["loss.draws.x0"]), uniforms=io["loss.draws.uniforms"])
            out["loss.output.pred"], out["loss.output.loss"] = N(terms["pred"]), N(terms["loss"])
            out["loss.debug.model_input_xt"], out["loss.debug.model_input_t"] = N(terms["xt"]), N(terms["t"])
        if "euler" in calls:
            out.update(self._euler(calls["euler"], io, models))
        return out, skipped

    def _euler(self, c: dict, io, models) -> dict:
        sampler = Sampler(SamplerConfig(mode="ode", method="euler", num_steps=c["num_steps"]), c["time_dist_shift"])
        z, labels = A(io["euler.input.z"]), A(io["euler.input.labels"])
        n = z.shape[0]
        y_full = mx.concatenate([labels, mx.full(labels.shape, c["null_label"], dtype=labels.dtype)])
        out = {}
        for mode, spec in c["modes"].items():
            fn = function_of(spec)
            main = models["main"]
            if fn == "forward_with_cfg":
                g = GuidanceConfig("cfg", spec["cfg_scale"], *spec["cfg_interval"])
                traj = sampler.sample(z, guided_velocity(main, labels, g), trajectory=True)
                traj = mx.concatenate([traj, traj], axis=1)  # the reference keeps [guided; guided]
            elif fn == "forward_with_autoguidance":
                g = GuidanceConfig("autoguidance", spec["cfg_scale"], *spec["cfg_interval"])
                guide = models[spec["additional_model_forward"].split(".")[0]]
                traj = sampler.sample(mx.concatenate([z, z]), guided_velocity(main, y_full, g, guide), trajectory=True)
            else:
                traj = sampler.sample(mx.concatenate([z, z]), lambda x, t, m=main: m(x, t, y_full), trajectory=True)
            out[f"euler.{mode}.output.trajectory"] = N(traj)
            out[f"euler.{mode}.output.final"] = N(traj[-1])
            out[f"euler.{mode}.output.samples"] = N(traj[-1][:n])
        return out
