"""`rae info`: what a preset, checkpoint, model folder or reference YAML holds, and what it costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from rae_spec.configs import DecoderConfig, DiTDHConfig, EncoderConfig, LightningDiTConfig, StatsConfig, to_dict
from rae_spec.memory import SETTINGS, sampling_memory, weight_bytes
from rae_spec.parameters import expected_parameters, parameter_count

from . import reference_yaml
from .errors import UserError
from .hub import Store, human_size, is_local_repo
from .options import debug_option, models_dir_option, presets_option
from .pipeline import SamplingPipeline, dit_from_path
from .pipeline_folder import is_pipeline_folder, pipeline_from_folder
from .registry import Registry, load_registry


def weights_line(configs: list[Any]) -> str:
    """Bytes of the weights in each setting (exact, as rae_mlx holds them)."""
    return ", ".join(f"{name} {human_size(sum(weight_bytes(c, p) for c in configs))}" for name, p in SETTINGS.items())


def peak_line(dit: Any, decoder: Any, guide: Any = None) -> str:
    """Estimated peak memory to sample one image in each setting, and with --low-memory (rae_spec.memory)."""
    parts = []
    for name, p in SETTINGS.items():
        full = sampling_memory(dit, decoder, guide, p).peak
        low = sampling_memory(dit, decoder, guide, p, low_memory=True).peak
        parts.append(f"{name} {human_size(full)} ({human_size(low)})")
    return "peak memory to sample one image (MLX, estimated; with --low-memory): " + ", ".join(parts)


def describe_config(config: Any) -> str:
    if isinstance(config, DiTDHConfig):
        return (f"DiT^DH: hidden {list(config.hidden_size)}, depth {list(config.depth)}, "
                f"heads {list(config.num_heads)}, latent {list(config.latent_shape)}, {config.num_classes} classes")
    if isinstance(config, LightningDiTConfig):
        return (f"LightningDiT: hidden {config.hidden_size}, depth {config.depth}, heads {config.num_heads}, "
                f"latent {list(config.latent_shape)}, {config.num_classes} classes")
    if isinstance(config, DecoderConfig):
        return (f"ViT decoder: width {config.hidden_size}, {config.num_layers} layers, {config.num_heads} heads, "
                f"{config.num_patches} tokens of {config.latent_dim} -> {config.image_size} px")
    if isinstance(config, EncoderConfig):
        return (f"{config.kind} encoder: width {config.hidden_size}, {config.num_layers} layers, patch "
                f"{config.patch_size}" + (f" ({config.hf_repo})" if config.hf_repo else ""))
    if isinstance(config, StatsConfig):
        return f"latent statistics {list(config.shape)}" + (" (mean and var)" if config.has_mean else " (var only)")
    return type(config).__name__


def _count(config: Any) -> int:
    return 0 if isinstance(config, StatsConfig) else parameter_count(config)


def remote_size(repo: str, filename: str) -> str:
    """The size of a file on the hub, or why it is unknown (in words: offline, no network, the error's name)."""
    from .hub import hf_offline, hub_unreachable

    if hf_offline():
        return "size unknown (HF_HUB_OFFLINE)"
    if hub_unreachable():
        return "size unknown (no network)"
    try:
        from huggingface_hub import HfApi

        (entry,) = HfApi().get_paths_info(repo, [filename])
        return f"{human_size(entry.size)} on the hub"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - network or auth: informational only
        name = type(e).__name__
        return "size unknown (no network)" if "Connect" in name or "Timeout" in name else f"size unknown ({name})"


def _found(origin: str, filename: str | None, path: Path) -> str:
    """A found file: where it came from and its size, and where it is when that is another place."""
    name = f"{origin}/{filename}" if filename else origin
    where = "" if Path(name) == path else f" at {path}"
    return f"{name}: {human_size(path.stat().st_size)}{where}"


def _download_line(registry: Registry, model: str, name: str) -> str:
    if is_local_repo(registry.model(model).repo):
        return "  download: nothing to download (its files ship with the package or are local)"
    return f"  download: rae download {name}"


def _model_lines(registry: Registry, store: Store, role: str, name: str,
                 remote: bool = False) -> tuple[list[str], int, int]:
    preset = registry.model(name)
    lines = [f"  {role:8s} {name}: {describe_config(preset.config)}"]
    params = _count(preset.config)
    if params:
        lines.append(f"           parameters {params / 1e6:.2f} M; weights {weights_line([preset.config])}")
    size = 0
    for f in preset.files:
        found = store.find(preset.repo, f)
        if found is not None:
            size += found.stat().st_size
            lines.append(f"           {_found(preset.repo, f, found)}")
        else:
            extra = f", {remote_size(preset.repo, f)}" if remote and not is_local_repo(preset.repo) else ""
            lines.append(f"           {preset.repo}/{f}: not downloaded{extra}")
    if not preset.verified:
        lines.append("           (file path inferred from the reference's issues, not verified)")
    return lines, params, size


def _pipeline(registry: Registry, store: Store, name: str, remote: bool) -> list[str]:
    p = registry.pipeline(name)
    out = [f"pipeline {name}: {p.description}", f"  reported: {p.reported}" if p.reported else ""]
    out += [f"  sampler: {json.dumps(to_dict(p.sampler))}", f"  guidance: {json.dumps(to_dict(p.guidance))}",
            f"  time shift: {p.transport.time_dist_shift:.6f}"]
    total = 0
    roles = [("dit", p.dit), ("guide", p.guide), ("decoder", p.decoder), ("stats", p.stats), ("encoder", p.encoder)]
    for role, model in roles:
        if model:
            lines, params, _ = _model_lines(registry, store, role, model, remote)
            out += lines
            total += params if role != "encoder" else 0
    config = {role: registry.model(m).config for role, m in roles if m}
    guide = config.get("guide") if p.guidance.active and p.guidance.method == "autoguidance" else None
    sampled = [c for role, c in config.items() if role in ("dit", "decoder") or (role == "guide" and guide)]
    out.append(f"  sampling loads {total / 1e6:.1f} M parameters: {weights_line(sampled)} (weights; the encoder "
               "is not loaded)")
    out.append("  " + peak_line(config["dit"], config["decoder"], guide))
    out.append(_download_line(registry, p.dit, name))
    return [line for line in out if line]


def _autoencoder_params(registry: Registry, a) -> int:
    return sum(_count(registry.model(m).config) for m in (a.encoder, a.decoder))


def _files(registry: Registry, models: list[str]) -> list[tuple[str, str]]:
    """(repo, filename) of the models' files, each once (a diffusers repo's file holds several models)."""
    return list(dict.fromkeys((registry.model(m).repo, f) for m in models for f in registry.model(m).files))


def _autoencoder(registry: Registry, store: Store, name: str, remote: bool) -> list[str]:
    a = registry.autoencoder(name)
    rae = registry.rae_config(a.encoder, a.decoder, a.encoder_input_size)
    out = [f"autoencoder {name}: {a.description}" if a.description else f"autoencoder {name}",
           f"  encoder input {a.encoder_input_size} px, latents {list(rae.latent_shape)}, images {rae.image_size} px"]
    if a.source:
        out.append(f"  source: {a.source}")
    models = [m for m in (a.encoder, a.decoder, a.stats) if m]
    for role, model in zip(("encoder", "decoder", "stats"), (a.encoder, a.decoder, a.stats), strict=True):
        if model:
            preset = registry.model(model)
            out.append(f"  {role:8s} {model}: {describe_config(preset.config)}")
            params = _count(preset.config)
            if params:
                out.append(f"           parameters {params / 1e6:.2f} M; weights {weights_line([preset.config])}")
    for repo, f in _files(registry, models):
        found = store.find(repo, f)
        if found is not None:
            out.append(f"  file {_found(repo, f, found)}")
        else:
            extra = f", {remote_size(repo, f)}" if remote and not is_local_repo(repo) else ""
            out.append(f"  file {repo}/{f}: not downloaded{extra}")
    total = _autoencoder_params(registry, a)
    configs = [registry.model(m).config for m in (a.encoder, a.decoder)]
    out.append(f"  reconstruction loads {total / 1e6:.1f} M parameters: {weights_line(configs)}")
    out.append(_download_line(registry, a.encoder, name))
    return out


def _listing(registry: Registry, store: Store) -> list[str]:
    def status(names: list[str]) -> str:
        files = _files(registry, names)
        have = sum(store.find(r, f) is not None for r, f in files)
        return "downloaded" if have == len(files) else f"{have}/{len(files)} files"

    out = [f"models from the {store.location}", "", "pipelines (rae sample --preset NAME):"]
    for name, p in registry.pipelines.items():
        mark = " (default)" if name == registry.default_pipeline else ""
        out.append(f"  {name:24s} {status(list(p.sampling_models())):12s} {p.description}{mark}")
    out += ["", "autoencoders (rae reconstruct --autoencoder NAME):"]
    for name, a in registry.autoencoders.items():
        params = _autoencoder_params(registry, a)
        what = a.description or f"{a.encoder} + {a.decoder}"
        out.append(f"  {name:24s} {status([m for m in (a.encoder, a.decoder, a.stats) if m]):12s} {what}; "
                   f"{params / 1e6:.1f} M parameters, "
                   f"{human_size(sum(weight_bytes(registry.model(m).config) for m in (a.encoder, a.decoder)))} "
                   "in float32")
    out += ["", "models:"]
    parts = [name for name, m in registry.models.items() if m.diffusers]
    for name, m in registry.models.items():
        if not m.diffusers:
            out.append(f"  {name:30s} {status([name]):12s} {m.kind:8s} {m.description}")
    if parts:
        out.append(f"  and the parts of each diffusers-format autoencoder, NAME.encoder, NAME.decoder, NAME.stats "
                   f"({len(parts)} models; usable wherever a model preset is, e.g. training's encoder)")
    return out


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """{name: shape} of a checkpoint file: safetensors without any framework, .pt files with rae_convert's
    torch-free reader (or torch)."""
    try:
        from rae_convert import open_source
    except ImportError:
        open_source = None
    if open_source is not None and path.suffix != ".safetensors":
        return {k: tuple(v.shape) for k, v in open_source(path).tensors.items()}
    if path.suffix == ".safetensors":  # the header alone, checked entry by entry (rae_convert.safetensors_io)
        from rae_convert.safetensors_io import SafetensorsError, read_header

        try:
            return {k: tuple(v["shape"]) for k, v in read_header(path)[0].items()}
        except SafetensorsError as e:
            raise UserError(str(e)) from e
    try:
        from rae_torch.checkpoint import read_checkpoint, unwrap_state_dict
    except ImportError as e:
        raise UserError(f"reading {path.suffix} checkpoints needs torch: pip install 'rae-mlx[torch]'") from e
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and any(k in obj for k in ("mean", "var")) and not any(k in obj for k in ("ema", "model")):
        return {k: tuple(v.shape) for k, v in obj.items() if hasattr(v, "shape")}
    return {k: tuple(v.shape) for k, v in unwrap_state_dict(obj, path).items()}


def matching_presets(shapes: dict[str, tuple[int, ...]], registry: Registry) -> list[str]:
    """Model presets whose manifest the file's tensors cover (ignoring wrapper prefixes)."""
    found = []
    for name, preset in registry.models.items():
        expected = expected_parameters(preset.config)
        if isinstance(preset.config, StatsConfig):
            same = all(k in shapes and _numel(shapes[k]) == _numel(v) for k, v in expected.items())
        else:
            same = all(shapes.get(k) == v for k, v in expected.items() if not k.endswith("trainable_cls_token"))
        if same:
            found.append(name)
    return found


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _file(path: Path, registry: Registry, match: bool = True) -> list[str]:
    shapes = tensor_shapes(path)
    values = sum(_numel(s) for s in shapes.values())
    out = [f"{path}: {human_size(path.stat().st_size)}, {len(shapes)} tensors, {values / 1e6:.2f} M values"]
    if match:
        matches = matching_presets(shapes, registry)
        out.append(f"  matches: {', '.join(matches)}" if matches else "  matches no known preset configuration")
    for k, s in list(shapes.items())[:8]:
        out.append(f"  {k}: {list(s)}")
    if len(shapes) > 8:
        out.append(f"  ... ({len(shapes) - 8} more)")
    return out


def _diffusers_folder(path: Path, registry: Registry) -> list[str]:
    """A diffusers AutoencoderRAE folder: what it holds, and which autoencoder presets its config.json fits."""
    from rae_convert import diffusers

    fields, rae, stats, notes = diffusers.describe(path)
    params = parameter_count(rae)
    folder = diffusers.folder_of(path)
    out = [f"diffusers AutoencoderRAE folder {folder}: encoder input {rae.encoder_input_size} px, latents "
           f"{list(rae.latent_shape)}, images {rae.image_size} px",
           f"  encoder  {describe_config(rae.encoder)}", f"  decoder  {describe_config(rae.decoder)}",
           "  stats    " + (", ".join(f"{k} {list(v.shape)}" for k, v in stats.items()) or "none in the file"),
           f"  parameters {params / 1e6:.2f} M; weights {weights_line([rae.encoder, rae.decoder])}"]

    def fits(a) -> bool:
        configs = [registry.rae_config(a.encoder, a.decoder, a.encoder_input_size)]
        configs += [registry.model(a.stats).config] if a.stats else []
        return not any(diffusers.mismatches(fields, c) for c in configs)

    fitting = [name for name, a in registry.autoencoders.items() if fits(a)]
    out.append(f"  matches autoencoder presets: {', '.join(fitting)}" if fitting else "  matches no autoencoder preset")
    out += [f"  note: {n}" for n in notes]
    return out


def _is_diffusers(path: Path) -> bool:
    try:
        from rae_convert.diffusers import folder_of
    except ImportError:
        return False
    return folder_of(path) is not None


def _sampling(pipe: SamplingPipeline, title: str) -> list[str]:
    out = [title, f"  sampler: {json.dumps(to_dict(pipe.sampler))}",
           f"  guidance: {json.dumps(to_dict(pipe.guidance))}", f"  time shift: {pipe.shift:.6f}",
           f"  image size: {pipe.rae.image_size} px, latents {list(pipe.latent_shape)}"]
    total = 0
    for role, w in pipe.weights().items():
        params = _count(w.config)
        total += params
        out.append(f"  {role:8s} {describe_config(w.config)}")
        out.append(f"           {_found(w.origin, None, w.path)}")
    models = [w.config for role, w in pipe.weights().items() if role != "stats"]
    out.append(f"  sampling loads {total / 1e6:.2f} M parameters: {weights_line(models)}")
    guide = pipe.guide.config if pipe.guide is not None and pipe.guidance.active and \
        pipe.guidance.method == "autoguidance" else None
    out.append("  " + peak_line(pipe.dit.config, pipe.decoder.config, guide))
    out += [f"  note: {n}" for n in pipe.notes]
    return out


@click.command("info", epilog="""
\b
Examples:
  rae info                          every preset, and which are downloaded
  rae info dit-dh-xl-256-ag         a pipeline: models, parameters, files, memory per dtype
  rae info stage2_model.pt          a checkpoint: tensors, and which preset it matches
  rae info DiTDHXL-DINOv2-B_AG.yaml what a reference YAML resolves to
\b
Presets file (--presets / RAE_PRESETS): JSON that adds or changes presets, e.g.
  {"models": {"my-dit": {"kind": "dit", "repo": "./run1", "filename": "ema.pt",
                         "config": {"type": "DiTDHConfig", "depth": [12, 2]}}},
   "pipelines": {"mine": {"dit": "my-dit", "decoder": "decoder-dinov2-b-xl-256",
                          "stats": "stats-dinov2-b-256", "encoder": "dinov2-b-reg",
                          "encoder_input_size": 224}}}
""")
@click.argument("target", required=False)
@click.option("--remote", is_flag=True, help="Look up on the hub the size of files not downloaded yet.")
@models_dir_option
@presets_option
@debug_option
def info(target: str | None, remote: bool, models_dir: Path | None, presets_file: Path | None) -> None:
    """Describe a preset (pipeline, autoencoder, model), a checkpoint, a model folder or a reference YAML."""
    registry = load_registry(presets_file)
    store = Store(models_dir)
    if target is None:
        lines = _listing(registry, store)
    elif registry.kind_of(target) == "pipeline":
        lines = _pipeline(registry, store, target, remote)
    elif registry.kind_of(target) == "autoencoder":
        lines = _autoencoder(registry, store, target, remote)
    elif registry.kind_of(target) == "model":
        lines, _, _ = _model_lines(registry, store, registry.model(target).kind, target, remote)
    else:
        path = Path(target).expanduser()
        if not path.exists():
            registry.pipeline(target)  # unknown name: raises with suggestions
        if path.suffix in (".yaml", ".yml"):
            lines = _sampling(reference_yaml.sampling_pipeline(path, store, download=False), f"config {path}")
        elif _is_diffusers(path):
            lines = _diffusers_folder(path, registry)
        elif is_pipeline_folder(path):
            lines = _sampling(pipeline_from_folder(path, registry), f"pipeline folder {path}")
        elif path.is_dir():
            w = dit_from_path(path)
            params = _count(w.config)
            lines = [f"model folder {path}: {describe_config(w.config)}",
                     f"  parameters {params / 1e6:.2f} M; weights {weights_line([w.config])}",
                     *_file(w.path, registry, match=False)]
        else:
            lines = _file(path, registry)
    for line in lines:
        click.echo(line)
