"""Runs reference fixture cases through rae_torch. Each method returns (computed, skipped):
computed maps a tolerance name to a numpy array ("name | note" compares against io["name"] with
name's tolerance); skipped maps a name to the reason it cannot be computed on this backend."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rae_spec.configs import GuidanceConfig, SamplerConfig, TransportConfig
from rae_torch.checkpoint import build_model, load_into
from rae_torch.rae import RAE, normalize, preprocess, tokens_to_latent
from rae_torch.sampling import Sampler, guided_velocity
from rae_torch.transport import Transport

from .cases import (
    Case,
    Either,
    dit_config,
    function_of,
    hf_encoder_config,
    rae_config,
)


def T(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def N(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def load(module, config, weights: dict[str, np.ndarray]):
    return load_into(module, {k: T(v) for k, v in weights.items()}, config).eval()


# Module whose output each `forward.debug.*` tensor records.
DEBUG_MODULES = {"t_embedding": "t_embedder", "y_embedding": "y_embedder", "s_embedder": "s_embedder",
                 "s_projected": "s_projector", "x_embedder": "x_embedder", "final_layer_tokens": "final_layer"}


class TorchRunner:
    name = "torch"

    @torch.no_grad()
    def dinov2_encoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = rae_config(m)
        rae = RAE(cfg).eval()
        weights = case.weights(m["weights"]["file"])
        load(rae.encoder, cfg.encoder, weights)
        enc = rae.encoder
        pixels = rae.preprocess(T(io["input.images"]))
        given = T(io["intermediate.encoder_input"])
        g = cfg.latent_grid
        out = {
            "intermediate.encoder_input": pixels,
            "debug.interpolated_position_embeddings": enc.position_table((g, g)),
            "debug.last_hidden_state_all_tokens": enc.forward_all(pixels),
            "output.tokens": enc(pixels),
            "output.tokens | given intermediate.encoder_input": enc(given),
            "output.latents": rae.encode(T(io["input.images"])),
        }
        skipped = {}
        if "layernorm.weight" in weights:
            h = enc.hidden_states(given)
            affine = F.layer_norm(h, h.shape[-1:], T(weights["layernorm.weight"]), T(weights["layernorm.bias"]),
                                  cfg.encoder.layer_norm_eps)
            out["output.tokens_with_affine_layernorm"] = affine[:, cfg.encoder.num_leading_tokens:]
        else:
            skipped["output.tokens_with_affine_layernorm"] = "weights carry no final-LayerNorm affine"
        return {k: N(v) for k, v in out.items()}, skipped

    @torch.no_grad()
    def hf_encoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = hf_encoder_config(m)
        enc = load(build_model(cfg), cfg, case.weights(m["weights"]["file"]))
        size = m["encoder_input_size"]
        pixels = preprocess(T(io["images"]), size, cfg.image_mean, cfg.image_std)
        g = size // cfg.patch_size
        tokens = enc(pixels)
        latent = tokens_to_latent(tokens)
        out = {
            "pixel_values": pixels,
            "pos_embed": enc.position_table((g, g)),
            "embeddings": enc.embed(T(io["pixel_values"])),
            "tokens": tokens,
            "latent": latent,
            "latent_normalized": normalize(latent, T(io["latent_mean"]), T(io["latent_var"]), 1e-5),
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

    @torch.no_grad()
    def decoder(self, case: Case):
        m, io = case.meta, case.io
        cfg = rae_config(m)
        rae = RAE(cfg).eval()
        load(rae.decoder, cfg.decoder, case.weights(m["weights"]["file"]))
        latents = T(io["input.latents"])
        tokens = latents.flatten(2).transpose(1, 2)
        logits = rae.decoder(tokens)
        out = {
            "output.pixels_unpatchified": N(rae.decoder.unpatchify(logits)),
            "output.images": N(rae.decode(latents)),
            "output.logits": N(logits),
            "intermediate.tokens": N(tokens),
        }
        if "input.small_grid_tokens" in io:
            small = T(io["input.small_grid_tokens"])
            out["extra.logits_from_small_grid"] = N(rae.decoder(small))
            out["output.logits"] = Either(decode=out["output.logits"], small_grid=out["extra.logits_from_small_grid"])
            out["intermediate.tokens"] = Either(decode=out["intermediate.tokens"], small_grid=N(small))
        return out, {}

    @torch.no_grad()
    def rae_roundtrip(self, case: Case):
        m, io = case.meta, case.io
        w = m["weights"]
        cfg = rae_config(m)
        rae = RAE(cfg).eval()
        load(rae.encoder, cfg.encoder, case.weights(w["encoder"]["file"]))
        load(rae.decoder, cfg.decoder, case.weights(w["decoder"]["file"]))
        stats = case.weights(w["stats"]["file"])
        rae.set_stats(T(stats["mean"]) if "mean" in stats else None, T(stats["var"]) if "var" in stats else None)
        rae.eval()
        images = T(io["input.images"])
        latents = rae.encode(images)
        out = {
            "debug.tokens": rae.encoder(rae.preprocess(images)),
            "output.latents": latents,
            "output.reconstruction": rae.decode(latents),
        }
        if "train_encode.draws.u" in io:
            rae.train()
            out["train_encode.output.latents"] = rae.encode(
                images, noise=(T(io["train_encode.draws.u"]), T(io["train_encode.draws.eps"])))
            rae.eval()
        return {k: N(v) for k, v in out.items()}, {}

    def _dits(self, case: Case) -> dict:
        models = {}
        for name, spec in case.meta["models"].items():
            cfg = dit_config(spec)
            models[name] = load(build_model(cfg), cfg, case.weights(spec["weights"]))
        return models

    @torch.no_grad()
    def ditdh(self, case: Case):
        io = case.io
        models = self._dits(case)
        main = models["main"]
        out = {}
        for call in case.meta["calls"]:
            name, fn = call["name"], function_of(call)
            x, t, y = (T(io[f"{name}.input.{k}"]) for k in ("x", "t", "y"))
            if fn == "forward":
                captured = {}
                hooks = []
                for key in io:
                    if not key.startswith(f"{name}.debug."):
                        continue
                    leaf = key.split(".")[-1]
                    path = f"blocks.{leaf.split('_')[1]}" if leaf.startswith("block_") else DEBUG_MODULES[leaf]
                    module = main.get_submodule(path)
                    hooks.append(module.register_forward_hook(
                        lambda mod, args, res, key=key, store=captured: store.__setitem__(key, res)))
                out[f"{name}.output"] = main(x, t, y)
                for h in hooks:
                    h.remove()
                out.update(captured)
                continue
            scale, interval = call["cfg_scale"], tuple(call["cfg_interval"])
            if fn == "forward_with_cfg":
                out[f"{name}.output"] = main.forward_with_cfg(x, t, y, scale, interval)
                B = len(x) // 2
                null = main.config.null_label
                if torch.equal(t[:B], t[B:]) and bool((y[B:] == null).all()):
                    v = guided_velocity(main, y[:B], GuidanceConfig("cfg", scale, *interval))(x[:B], t[:B])
                    out[f"{name}.output | efficient cfg"] = torch.cat([v, v])
            else:
                guide = models["guidance"]
                out[f"{name}.output"] = main.forward_with_autoguidance(x, t, y, scale, guide.forward, interval)
                out[f"{name}.output | efficient autoguidance"] = guided_velocity(
                    main, y, GuidanceConfig("autoguidance", scale, *interval), guide)(x, t)
                out[f"{name}.debug.main_output"] = main(x, t, y)
                out[f"{name}.debug.guidance_output"] = guide(x, t, y)
        return {k: N(v) for k, v in out.items()}, {}

    @torch.no_grad()
    def transport(self, case: Case):
        io = case.io
        calls = {c["name"]: c for c in case.meta["calls"]}
        out = {}
        if "grid" in calls:
            c = calls["grid"]
            for sname, s in c["shifts"].items():
                for n in c["steps"]:
                    out[f"grid.{sname}.steps{n}"] = Sampler(SamplerConfig(num_steps=n), s["time_dist_shift"]).grid
        if "time_sampling" in calls:
            c = calls["time_sampling"]
            U = T(io["time_sampling.draws.uniforms"])
            for dist in c["time_dist_types"]:
                for sname, s in c["shifts"].items():
                    tr = Transport(TransportConfig(time_dist_type=dist), shift=s["time_dist_shift"])
                    out[f"time_sampling.{dist}.{sname}.t"] = N(tr.time_from_uniform(U))
            # The same draws from torch's RNG, in the reference's order (noise first, then U).
            torch.manual_seed(c["seed"])
            x1 = T(io["time_sampling.input.x1"])
            out["time_sampling.x0"] = N(torch.randn_like(x1))
            out["time_sampling.draws.uniforms | torch rng"] = N(torch.rand((x1.shape[0],)))
        if "target" in calls:
            xt, ut = Transport.interpolate(T(io["target.input.t"]), T(io["target.input.x0"]), T(io["target.input.x1"]))
            out["target.output.xt"], out["target.output.ut"] = N(xt), N(ut)
        models = self._dits(case) if "models" in case.meta else {}
        if "loss" in calls:
            c = calls["loss"]
            tr = Transport(TransportConfig(time_dist_type=c["time_dist_type"]), shift=c["time_dist_shift"])
            x1, y = T(io["loss.input.x1"]), T(io["loss.input.y"])
            terms = tr.loss(models["main"], x1, y, noise=T(io["loss.draws.x0"]), uniforms=T(io["loss.draws.uniforms"]))
            out["loss.output.pred"], out["loss.output.loss"] = N(terms["pred"]), N(terms["loss"])
            out["loss.debug.model_input_xt"], out["loss.debug.model_input_t"] = N(terms["xt"]), N(terms["t"])
            torch.manual_seed(c["seed"])
            out["loss.output.loss | torch rng"] = N(tr.loss(models["main"], x1, y)["loss"])
        if "euler" in calls:
            out.update(self._euler(calls["euler"], io, models))
        return out, {}

    def _euler(self, c: dict, io, models) -> dict:
        sampler = Sampler(SamplerConfig(mode="ode", method="euler", num_steps=c["num_steps"]), c["time_dist_shift"])
        z, labels = T(io["euler.input.z"]), T(io["euler.input.labels"])
        n = len(z)
        y_full = torch.cat([labels, torch.full_like(labels, c["null_label"])])
        out = {}
        for mode, spec in c["modes"].items():
            fn = function_of(spec)
            main = models["main"]
            if fn == "forward_with_cfg":
                g = GuidanceConfig("cfg", spec["cfg_scale"], *spec["cfg_interval"])
                traj = sampler.sample(z, guided_velocity(main, labels, g), trajectory=True)
                traj = torch.cat([traj, traj], dim=1)  # the reference keeps [guided; guided]
            elif fn == "forward_with_autoguidance":
                g = GuidanceConfig("autoguidance", spec["cfg_scale"], *spec["cfg_interval"])
                guide = models[spec["additional_model_forward"].split(".")[0]]
                traj = sampler.sample(torch.cat([z, z]), guided_velocity(main, y_full, g, guide), trajectory=True)
            else:
                traj = sampler.sample(torch.cat([z, z]), lambda x, t, m=main: m(x, t, y_full), trajectory=True)
            out[f"euler.{mode}.output.trajectory"] = N(traj)
            out[f"euler.{mode}.output.final"] = N(traj[-1])
            out[f"euler.{mode}.output.samples"] = N(traj[-1][:n])
        return out
