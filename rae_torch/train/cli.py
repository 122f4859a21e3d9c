"""`train_cli`: the click group behind `python -m rae_torch.train ...` and `rae train ...`.

    python -m rae_torch.train stage2 --config cfg.yaml
    torchrun --nproc_per_node=8 -m rae_torch.train stage2 --config cfg.yaml --set train.precision=bf16

Every command takes --config (our YAML or a reference training YAML) and `--set key.sub=value`
overrides; the reference's command-line flags (--data-path, --results-dir, --image-size, --precision,
--compile, --global-seed) are accepted too. Errors in the input (config, data, checkpoints, output paths) print
one actionable line and exit with status 2 (`--debug` shows the traceback); output paths are checked before
any work (a stats file or a latent cache that exists is replaced only with --overwrite, as is a non-empty
export folder; a run folder is resumed). SIGTERM outside the training loop acts like Ctrl-C (exit 143);
inside it, the loop saves a checkpoint at the next step boundary and exits 0.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from rae_apps.command import CommandGroup
from rae_apps.errors import is_user_error, one_line
from rae_apps.hub import MODELS_DIR_ENV
from rae_apps.options import debug_option, models_dir_option

from rae_spec.files import check_output, check_output_folder

from .config import dump_config, load_config
from .pretrained import MissingWeightsError

# Input errors besides those every command recognises (rae_apps.errors.is_user_error): files not found, not
# permitted, or pretrained weights not on this machine.
USER_ERRORS = (MissingWeightsError, FileNotFoundError, PermissionError)


class TrainError(click.ClickException):
    """An input error of a training command: one line, exit status 2 (under `rae train` too)."""

    exit_code = 2


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except Exception as e:
        if isinstance(e, USER_ERRORS) or is_user_error(e):
            raise TrainError(one_line(e)) from e
        raise


def _check_outputs(stage: str, cfg, overwrite: bool) -> None:
    """Output paths checked before any work: a run folder is resumed (only its writability matters), a stats
    file or a latent cache is replaced only with --overwrite."""
    if stage == "stats":
        check_output(cfg.output, overwrite=overwrite, what="statistics file")
    elif stage == "cache":
        check_output_folder(cfg.output_dir, overwrite=overwrite, what="latent cache folder")
    else:  # the run's own config.yaml is rewritten at each start; a user's file of that name is not
        from .loop import RUN_CONFIG, RUN_CONFIG_HEADER

        check_output_folder(cfg.output_dir, overwrite=True, what="run folder")
        ours = lambda p: p.read_bytes()[:200].decode("utf-8", "replace").startswith(RUN_CONFIG_HEADER)  # noqa: E731
        check_output(Path(cfg.output_dir) / RUN_CONFIG, overwrite=overwrite, what="file", replaceable=ours)

def use_models_dir(models_dir: Path | None) -> None:
    """Point this process's file store (rae_torch.train.pretrained.store) at `models_dir`."""
    if models_dir is not None:
        os.environ[MODELS_DIR_ENV] = str(models_dir)


def _overrides(stage: str, sets: tuple[str, ...], data_path, output_dir, image_size, precision, compile_,
               seed) -> list[str]:
    out = []
    if data_path is not None:
        out.append(f"data.path={data_path}")
    if output_dir is not None:
        out.append(f"{'output' if stage == 'stats' else 'output_dir'}={output_dir}")
    if image_size is not None:
        out.append(f"data.image_size={image_size}")
    run = "train." if stage in ("stage1", "stage2") else ""
    if precision is not None:
        out.append(f"{run}precision={precision}")
    if compile_ is not None and run:
        out.append(f"train.compile={str(compile_).lower()}")
    if seed is not None:
        out.append(f"{run}seed={seed}")
    return out + list(sets)


def stage_command(stage: str, help_text: str):
    """A command reading `stage`'s config with the shared options, then calling the wrapped runner."""

    def decorate(run):
        @train_cli.command(stage, help=help_text)
        @click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                      required=True, help="YAML config (ours, or a reference training YAML)")
        @click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                      help="override a config field, e.g. --set train.max_steps=100 (repeatable)")
        @click.option("--data-path", type=click.Path(path_type=Path), help="ImageFolder root (data.path)")
        @click.option("--output-dir", "--results-dir", "output_dir", type=click.Path(path_type=Path),
                      help="run folder (stats: the output file)")
        @click.option("--image-size", type=int, help="data.image_size")
        @click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), help="compute precision")
        @click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the trained model")
        @click.option("--global-seed", "seed", type=int, help="the run seed")
        @click.option("--print-config", is_flag=True, help="print the resolved config and exit")
        @click.option("--overwrite", is_flag=True, help="replace an existing statistics file or latent cache (or a "
                      "config.yaml in the run folder that this command did not write)")
        @debug_option
        @models_dir_option
        @functools.wraps(run)
        def command(config_path, sets, data_path, output_dir, image_size, precision, compile_, seed, print_config,
                    overwrite, models_dir):
            use_models_dir(models_dir)
            with _user_errors():
                cfg = load_config(stage, config_path, _overrides(stage, sets, data_path, output_dir, image_size,
                                                                 precision, compile_, seed))
                if print_config:
                    click.echo(dump_config(cfg), nl=False)
                    return
                _check_outputs(stage, cfg, overwrite)
                run(cfg)

        return command

    return decorate


@click.group("train", cls=CommandGroup)
def train_cli() -> None:
    """Train RAE decoders (stage1), latent statistics (stats), latent caches (cache) and DiT^DH / LightningDiT
    models (stage2), in one process or under torchrun (DDP / FSDP2). Runs resume from their newest
    checkpoint automatically."""


@stage_command("stage1", "Train the pixel decoder on a frozen encoder (L1 + LPIPS + GAN).")
def _stage1(cfg) -> None:
    from .stage1 import train_stage1

    _finish(train_stage1(cfg))


@stage_command("stage2", "Train a DiT^DH / LightningDiT by flow matching on RAE latents.")
def _stage2(cfg) -> None:
    from .stage2 import train_stage2

    _finish(train_stage2(cfg))


@stage_command("stats", "Compute per-position latent mean/var (stat.pt format) over a dataset.")
def _stats(cfg) -> None:
    from .stats import compute_stats

    _on_every_rank(compute_stats, cfg)


@stage_command("cache", "Encode a dataset once (both flips) into a sharded safetensors latent cache.")
def _cache(cfg) -> None:
    from .latent_cache import build_cache

    _on_every_rank(build_cache, cfg)


def _on_every_rank(work, cfg) -> None:
    """Run `work(cfg, runtime)` in this process's rank (one process, or one of torchrun's), logging on rank 0."""
    from .distributed import cleanup, init
    from .tracking import setup_logging

    rt = init()
    setup_logging(None, rt.is_main)
    work(cfg, rt)
    cleanup()


def _finish(metrics: dict) -> None:
    import torch.distributed as dist

    from .distributed import cleanup, is_distributed

    main = not is_distributed() or dist.get_rank() == 0
    cleanup()
    if metrics and main:
        click.echo(" ".join(f"{k}={v:.6g}" for k, v in metrics.items()), err=True)


@train_cli.command("export")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="a stage-2 training checkpoint (step-N.pt)")
@click.option("--output", type=click.Path(path_type=Path), required=True, help="the pipeline folder to write")
@click.option("--decoder", help="decoder folder / preset / file (default: the run's `decoder`)")
@click.option("--overwrite", is_flag=True, help="replace the files of an existing output folder")
@debug_option
@models_dir_option
def _export(checkpoint: Path, output: Path, decoder: str | None, overwrite: bool, models_dir: Path | None) -> None:
    """Write a sampling pipeline folder (pipeline.json, dit/, decoder/, stats) from a stage-2 checkpoint's
    EMA weights."""
    from .stage2 import export_checkpoint

    use_models_dir(models_dir)
    with _user_errors():
        check_output_folder(output, overwrite=overwrite, what="export folder")
        click.echo(str(export_checkpoint(checkpoint, output, decoder)))


def main() -> None:
    train_cli.main(prog_name=f"{Path(sys.executable).name} -m rae_torch.train")
