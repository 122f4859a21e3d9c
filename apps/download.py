"""`rae download`: fetch the files of presets (or of a reference YAML) into the HF cache or a folder."""

from __future__ import annotations

from pathlib import Path

import click

from . import reference_yaml
from .errors import UserError
from .hub import Store, human_size, is_local_repo
from .options import debug_option, models_dir_option, presets_option
from .registry import Registry, load_registry


def preset_files(registry: Registry, name: str, with_encoder: bool = False) -> list[tuple[str, str, str]]:
    """(model name, repo, filename) of every file a pipeline, autoencoder or model preset needs, each once (with
    the first model that needs it)."""
    kind = registry.kind_of(name)
    if kind == "pipeline":
        p = registry.pipeline(name)
        models = list(p.sampling_models()) + ([p.encoder] if with_encoder else [])
    elif kind == "autoencoder":
        a = registry.autoencoder(name)
        models = [m for m in (a.encoder, a.decoder, a.stats) if m]
    elif kind == "model":
        models = [name]
    else:
        registry.pipeline(name)  # raises with suggestions
        models = []
    out: dict[tuple[str, str], str] = {}  # each file once: a diffusers repo's file holds several models
    for m in models:
        preset = registry.model(m)
        for f in preset.files:
            out.setdefault((preset.repo, f), m)
    return [(m, repo, f) for (repo, f), m in out.items()]


@click.command("download", epilog="""
\b
Examples:
  rae download                              the default pipeline (DiT^DH-XL 256 + guide, decoder, stats)
  rae download dit-dh-xl-512-ag dinov2-b    a pipeline and an autoencoder (with its encoder)
  rae download --models-dir ~/models        into a plain folder instead of the HF cache
  rae download --config DiTDHXL-DINOv2-B_AG.yaml   every hub file a reference YAML names
""")
@click.argument("names", nargs=-1)
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Download the hub files a reference YAML refers to.")
@click.option("--with-encoder", is_flag=True, help="Also fetch a pipeline's encoder (needed for reconstruction).")
@models_dir_option
@presets_option
@debug_option
def download(names: tuple[str, ...], config: Path | None, with_encoder: bool, models_dir: Path | None,
             presets_file: Path | None) -> None:
    """Download preset files [default: the default pipeline].

    Files go to the standard Hugging Face cache (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface/hub),
    or to --models-dir as DIR/<org>/<repo>/<path>. Files already there are not fetched again.
    NAMES are pipeline, autoencoder or model presets (`rae info` lists them).
    """
    registry = load_registry(presets_file)
    store = Store(models_dir, log=lambda m: click.echo(m, err=True))
    if config is not None:
        if names:
            raise UserError("give preset names or --config, not both")
        reference_yaml.sampling_pipeline(config, store, download=True)
    else:
        wanted: dict[tuple[str, str], str] = {}  # (repo, filename) -> the first model that needs it
        for name in names or (registry.default_pipeline,):
            for model, repo, filename in preset_files(registry, name, with_encoder):
                wanted.setdefault((repo, filename), model)
        for (repo, filename), model in wanted.items():
            hint = f"run `rae download {model}`"
            if is_local_repo(repo):
                store.get(repo, filename, download=False, hint=hint)
            else:
                store.fetch(repo, filename, hint=hint)
    total, seen, hub = 0, set(), False
    for repo, filename, fetched in store.fetched:
        if fetched.path in seen:
            continue
        seen.add(fetched.path)
        total += fetched.size
        if is_local_repo(repo):  # ships with the package, or a local folder named by a presets file
            click.echo(f"{'local':10s} {human_size(fetched.size):>9s}  {fetched.path}")
            continue
        hub = True
        status = "downloaded" if fetched.downloaded else "cached"
        click.echo(f"{status:10s} {human_size(fetched.size):>9s}  {repo}/{filename}\n{'':21s}-> {fetched.path}")
    if not seen:  # a reference YAML naming local files only
        click.echo(f"nothing to download: every file {config} names is a local file")
        return
    click.echo(f"{len(seen)} files, {human_size(total)}" + (f", in the {store.location}" if hub else ", all local"))
