"""Accept the reference's training YAMLs (configs/stage1/training/*.yaml, configs/stage2/training/*/*.yaml).

Their sections (stage_1, stage_2, transport, sampler, guidance, misc, training, gan) are mapped onto our
dataclass configs. What the reference passes on the command line (--data-path, --results-dir,
--image-size, --precision, --compile) comes from our CLI options or `key=value` overrides. Fields with
no meaning here (eval blocks, wandb, num_workers for evaluation) are ignored with a note.
"""

from __future__ import annotations

import logging
from typing import Any

from rae_spec.configs import ConfigError, GuidanceConfig, SamplerConfig, to_dict
from rae_spec.presets import MODELS
from rae_spec.reference_yaml import ReferenceConfig, Stage1, builtin_decoder_size, is_reference_config

log = logging.getLogger("rae.train")

__all__ = ["is_reference_config", "map_reference_config"]


def _encoder_name(s1: Stage1) -> str:
    """A preset name when the HF repo is a known encoder, else the repo id / path itself."""
    for name, preset in MODELS.items():
        if preset.kind == "encoder" and preset.config.hf_repo == s1.encoder_weights:
            return name
    return s1.encoder_weights


def _decoder_size(path: str | None) -> str | None:
    """'configs/decoder/ViTXL' -> 'XL' (the shipped decoder configs); other paths are kept."""
    if path is None:
        return None
    return builtin_decoder_size(path) or path


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


def _sampler(ref: ReferenceConfig) -> dict[str, Any]:
    """The sample-grid sampler; one rae cannot run (the reference's default dopri5) falls back to Euler."""
    try:
        return to_dict(ref.sampler())
    except ConfigError as e:
        log.info("reference config: %s; training sample grids use Euler with 50 points", e)
        return to_dict(SamplerConfig())


def _guidance(ref: ReferenceConfig, training: dict[str, Any]) -> dict[str, Any]:
    """The sample grids' guidance: the reference's reading (training.cfg_scale overrides the scale). The
    grids have no guide model, so autoguidance samples the conditional model."""
    g = ref.guidance(scale=training.get("cfg_scale"))
    if g.method == "autoguidance":
        log.info("reference config: training sample grids use the conditional model (autoguidance needs "
                 "the guide's weights; sample with `rae sample` for guided images)")
        return to_dict(GuidanceConfig())
    if not g.guided:  # cfg at scale <= 1 (or an empty interval): the plain conditional model
        return to_dict(GuidanceConfig(g.method, 1.0))
    return to_dict(g.config())


def map_reference_config(stage: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Our plain config data for `stage` from a reference YAML's blocks (read by rae_spec.reference_yaml)."""
    ref = ReferenceConfig(raw)
    training = dict(raw.get("training") or {})
    if "eval" in raw:
        log.info("reference config: the 'eval' section (online FID) is not run during training; ignored")
    out: dict[str, Any] = {}
    s1 = ref.stage1() if raw.get("stage_1") else None
    s1_params = dict((raw.get("stage_1") or {}).get("params") or {})
    if s1 is not None:
        out["encoder"] = _encoder_name(s1)
        if "encoder_input_size" in s1_params:
            out["encoder_input_size"] = s1.encoder_input_size

    if stage == "stage2":
        dit = ref.stage2()
        out["model"] = to_dict(dit.config)
        if s1 is not None and s1.stats:
            out["stats"] = s1.stats
        if s1 is not None and s1.decoder_weights:
            out["decoder"] = s1.decoder_weights
            out["decoder_config"] = _decoder_size(s1.decoder_config_path)
        ref.check_classes(dit.config)
        out["transport"] = to_dict(ref.transport(tuple(dit.config.latent_shape)))
        out["sampler"] = _sampler(ref)
        out["guidance"] = _guidance(ref, training)
        out["data"] = _data(training)
        out["optim"] = _optim(training, training)
        out["schedule"] = _schedule(training, training)
        out["train"] = {"ema_decay": 0.9995, **_run(training)}
        for note in ref.notes:
            log.info("reference config: %s", note)
        return out

    if stage == "stage1":
        written = s1 is not None and "decoder_config_path" in s1_params
        out["decoder"] = (_decoder_size(s1.decoder_config_path) if written else None) or "XL"
        if s1 is not None and s1.decoder_weights:
            out["init_decoder"] = s1.decoder_weights
        if "noise_tau" in s1_params:
            out["noise_tau"] = s1.noise_tau
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
