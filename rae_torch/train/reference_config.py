"""Accept the reference's training YAMLs (configs/stage1/training/*.yaml, configs/stage2/training/*/*.yaml).

Their sections (stage_1, stage_2, transport, sampler, guidance, misc, training, gan) are mapped onto our
dataclass configs. What the reference passes on the command line (--data-path, --results-dir,
--image-size, --precision, --compile) comes from our CLI options or `key=value` overrides. Fields with
no meaning here (eval blocks, wandb, num_workers for evaluation) are ignored with a note.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rae_spec.configs import ConfigError
from rae_spec.presets import MODELS

log = logging.getLogger("rae.train")

REFERENCE_SECTIONS = ("stage_1", "stage_2", "gan", "misc")
ENCODER_CLASSES = {"Dinov2withNorm": "dinov2", "SigLIP2wNorm": "siglip2", "MAEwNorm": "mae"}
DIT_TARGETS = {"DiTwDDTHead": "DiTDHConfig", "LightningDiT": "LightningDiTConfig"}


def is_reference_config(raw: dict[str, Any]) -> bool:
    return any(k in raw for k in REFERENCE_SECTIONS)


def _encoder_name(params: dict[str, Any]) -> str:
    """A preset name when the HF repo is a known encoder, else the repo id / path itself."""
    cls = params.get("encoder_cls", "Dinov2withNorm")
    if cls not in ENCODER_CLASSES:
        raise ConfigError(f"unsupported reference encoder_cls {cls!r}; supported: {sorted(ENCODER_CLASSES)}")
    enc_params = params.get("encoder_params") or {}
    repo = enc_params.get("dinov2_path") or enc_params.get("model_name") or params.get("encoder_config_path")
    if repo is None:
        raise ConfigError("stage_1.params needs encoder_config_path (the encoder's HF repo or folder)")
    for name, preset in MODELS.items():
        if preset.kind == "encoder" and preset.config.hf_repo == repo:
            return name
    return str(repo)


def _decoder_size(path: str | None) -> str | None:
    """'configs/decoder/ViTXL' -> 'XL' (the shipped decoder configs); other paths are kept."""
    if path is None:
        return None
    m = re.search(r"ViT(XL|L|B)/?$", str(path))
    return m.group(1) if m else str(path)


def _optim(section: dict[str, Any], flat: dict[str, Any]) -> dict[str, Any]:
    opt = dict(section.get("optimizer") or {})
    out: dict[str, Any] = {}
    lr = opt.get("lr", flat.get("base_lr"))
    if lr is not None:
        out["lr"] = lr
    betas = opt.get("betas", opt.get("beta", flat.get("beta")))
    if betas is not None:
        out["betas"] = list(betas)
    wd = opt.get("weight_decay", opt.get("wd", flat.get("wd")))
    if wd is not None:
        out["weight_decay"] = wd
    if "eps" in opt:
        out["eps"] = opt["eps"]
    return out


def _schedule(section: dict[str, Any], flat: dict[str, Any]) -> dict[str, Any]:
    """Every schedule field, with the reference's defaults (no scheduler: a constant lr)."""
    sched = dict(section.get("scheduler") or {})
    if not sched and "schedule_type" not in flat:
        return {"type": "constant", "warmup_epochs": 0.0, "warmup_steps": None, "warmup_from_zero": False}
    return {
        "type": sched.get("type", flat.get("schedule_type", "linear")),
        "warmup_epochs": sched.get("warmup_epochs", flat.get("decay_start_epoch", 0.0)),
        "warmup_steps": sched.get("warmup_steps"),
        "decay_end_epoch": sched.get("decay_end_epoch", flat.get("decay_end_epoch")),
        "decay_end_steps": sched.get("decay_end_steps"),
        "base_lr": sched.get("base_lr", flat.get("base_lr")),
        "final_lr": sched.get("final_lr", flat.get("final_lr")),
        "warmup_from_zero": bool(sched.get("warmup_from_zero", False)),
    }


def _run(training: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = {}
    for ours, theirs in (("epochs", "epochs"), ("global_batch_size", "global_batch_size"),
                         ("grad_accum_steps", "grad_accum_steps"), ("ema_decay", "ema_decay"),
                         ("sample_every", "sample_every"), ("seed", "global_seed")):
        if training.get(theirs) is not None:
            run[ours] = training[theirs]
    if "clip_grad" in training:
        clip = training["clip_grad"]
        run["clip_grad"] = clip if clip and float(clip) > 0 else None
    log_every = training.get("log_interval", training.get("log_every"))
    if log_every is not None:
        run["log_every"] = log_every
    if training.get("ckpt_every") is not None:
        run["checkpoint_every"] = training["ckpt_every"]
    if training.get("checkpoint_interval") is not None:  # epochs in the reference
        run["checkpoint_every_epochs"] = training["checkpoint_interval"]
    return run


def _data(training: dict[str, Any]) -> dict[str, Any]:
    return {"num_workers": training["num_workers"]} if "num_workers" in training else {}


def map_reference_config(stage: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Our plain config data for `stage` from a reference YAML's sections."""
    s1 = dict((raw.get("stage_1") or {}).get("params") or {})
    training = dict(raw.get("training") or {})
    if "eval" in raw:
        log.info("reference config: the 'eval' section (online FID) is not run during training; ignored")
    out: dict[str, Any] = {}
    if s1:
        out["encoder"] = _encoder_name(s1)
        if "encoder_input_size" in s1:
            out["encoder_input_size"] = s1["encoder_input_size"]

    if stage == "stage2":
        s2 = raw.get("stage_2") or {}
        target = str(s2.get("target", "")).rsplit(".", 1)[-1]
        if target not in DIT_TARGETS:
            raise ConfigError(f"stage_2.target {s2.get('target')!r} is not a DiT^DH or LightningDiT")
        out["model"] = {"type": DIT_TARGETS[target], **(s2.get("params") or {})}
        if s1.get("normalization_stat_path"):
            out["stats"] = s1["normalization_stat_path"]
        if s1.get("pretrained_decoder_path"):
            out["decoder"] = s1["pretrained_decoder_path"]
            out["decoder_config"] = _decoder_size(s1.get("decoder_config_path"))
        misc = raw.get("misc") or {}
        tparams = dict((raw.get("transport") or {}).get("params") or {})
        transport: dict[str, Any] = {}
        if "time_dist_type" in tparams:
            transport["time_dist_type"] = tparams["time_dist_type"]
        for key in ("time_dist_shift_dim", "time_dist_shift_base"):
            if key in misc:
                transport[key] = misc[key]
        if transport:
            out["transport"] = transport
        sampler = raw.get("sampler") or {}
        sparams = sampler.get("params") or {}
        mode = str(sampler.get("mode", "ODE")).lower()
        out["sampler"] = {"mode": mode, "method": str(sparams.get("sampling_method", "euler")).lower(),
                          "num_steps": sparams.get("num_steps", 50)}
        guidance = raw.get("guidance") or {}
        method = guidance.get("method", "none")
        if method == "autoguidance":
            log.info("reference config: training sample grids use the conditional model (autoguidance needs "
                     "the guide's weights; sample with `rae sample` for guided images)")
            method = "none"
        out["guidance"] = {"method": method, "scale": guidance.get("scale", 1.0),
                           "t_min": guidance.get("t_min", guidance.get("t-min", 0.0)),
                           "t_max": guidance.get("t_max", guidance.get("t-max", 1.0))}
        out["data"] = _data(training)
        out["optim"] = _optim(training, training)
        out["schedule"] = _schedule(training, training)
        out["train"] = {"ema_decay": 0.9995, **_run(training)}
        return out

    if stage == "stage1":
        out["decoder"] = _decoder_size(s1.get("decoder_config_path")) or "XL"
        if s1.get("pretrained_decoder_path"):
            out["init_decoder"] = s1["pretrained_decoder_path"]
        if "noise_tau" in s1:
            out["noise_tau"] = s1["noise_tau"]
        gan = raw.get("gan") or {}
        disc = dict(gan.get("disc") or {})
        arch = dict(disc.get("arch") or {})
        loss = dict(gan.get("loss") or {})
        out["loss"] = {k: v for k, v in {
            "perceptual_weight": loss.get("perceptual_weight"), "disc_weight": loss.get("disc_weight"),
            "lpips_start_epoch": loss.get("lpips_start"), "disc_start_epoch": loss.get("disc_start"),
            "disc_update_start_epoch": loss.get("disc_upd_start", loss.get("disc_start")),
            "max_d_weight": loss.get("max_d_weight"), "disc_updates": loss.get("disc_updates"),
            "disc_loss": loss.get("disc_loss"), "gen_loss": loss.get("gen_loss")}.items() if v is not None}
        out["disc"] = {k: v for k, v in {
            "backbone": arch.get("dino_ckpt_path"), "recipe": arch.get("recipe"), "ks": arch.get("ks"),
            "norm_type": arch.get("norm_type"), "spectral_norm": arch.get("using_spec_norm"),
            "key_depths": arch.get("key_depths"), "norm_eps": arch.get("norm_eps"),
            "aug_prob": (disc.get("augment") or {}).get("prob"),
            "cutout": (disc.get("augment") or {}).get("cutout")}.items() if v is not None}
        out["data"] = {"flip": False, **_data(training)}
        out["optim"] = _optim(training, training)
        out["schedule"] = _schedule(training, training)
        out["disc_optim"] = _optim(disc, {})
        out["disc_schedule"] = _schedule(disc, {})
        out["train"] = {"ema_decay": 0.9978, "clip_grad": None, **_run(training)}
        return out

    if stage in ("stats", "cache"):
        return out
    raise ConfigError(f"unknown stage {stage!r}")
