"""The one generate path: SampleJob (CLI options, metadata records and API bodies describe the same job),
the per-step state and cancel check of both backends' sampling loop, previews that never change the
image, and the trainer's sample grids giving the pixels `rae sample` gives for the same job."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from rae_apps.engines import has_mlx_engine, make_engine  # noqa: E402
from rae_apps.errors import UserError  # noqa: E402
from rae_apps.hub import Store  # noqa: E402
from rae_apps.job import Listener, SampleJob, generate, plan_job  # noqa: E402
from rae_apps.metadata import read_record  # noqa: E402
from rae_apps.registry import load_registry  # noqa: E402

from rae_spec.step_state import Cancelled  # noqa: E402

BACKENDS = ["torch"] + (["mlx"] if has_mlx_engine() else [])
DEMO = dict(preset="digits-demo", steps=6)


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The built-in digits-demo pipeline (no download), run in tmp_path with a fresh rae cache."""
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "rae-cache"))
    monkeypatch.delenv("RAE_PRESETS", raising=False)
    monkeypatch.chdir(tmp_path)
    return load_registry(None), Store(None)


def run_cli(*args) -> str:
    from rae_apps.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------------------------- SampleJob


def test_job_json_round_trip_and_option_names():
    job = SampleJob(classes=("3", "seven"), seeds=(1, 2), num_images=2, preset="digits-demo", steps=10,
                    sampler="heun", guidance="cfg", scale=2.5, interval=(0.1, 0.9), dtype="bfloat16",
                    quantize=8, batch_size=3)
    body = job.to_json()
    assert body["class"] == ["3", "seven"] and body["seed"] == [1, 2] and body["interval"] == [0.1, 0.9]
    assert SampleJob.from_json(body) == job
    assert SampleJob.from_json({"class": [3], "seed": 4}) == SampleJob(classes=("3",), seeds=(4,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("body, match", [
    ({"seed": [1]}, "no class given"),
    ({"class": [1], "seed": [-1]}, "--seed must be whole numbers from 0 to"),
    ({"class": [1], "seed": [1], "steps": 1}, "--steps must be a whole number from 2 to 10000"),
    ({"class": [1], "seed": [1], "sampler": "dopri5"}, "--sampler must be one of"),
    ({"class": [1], "seed": [1], "guidance": "pag"}, "--guidance must be one of"),
    ({"class": [1], "seed": [1], "interval": [0.9, 0.1]}, "--interval needs 0 <= LO < HI <= 1"),
    ({"class": [1], "seed": [1], "interval": "0.1,0.9"}, "--interval must be [LO, HI]"),
    ({"class": [1], "seed": [1], "dtype": "float64"}, "--dtype must be one of"),
    ({"class": [1], "seed": [1], "quantize": 3}, "--quantize must be 4 or 8"),
    ({"class": [1], "seed": [1], "config": "a.yaml", "preset": "x"}, "cannot be combined with --preset"),
    ({"class": [1], "seed": [1], "bogus": 1}, "unknown job fields ['bogus']"),
])
def test_job_validation_says_what_to_fix_in_one_line(body, match):
    with pytest.raises(UserError, match=match.replace("[", r"\[").replace("]", r"\]")) as e:
        SampleJob.from_json(body)
    assert "\n" not in str(e.value)


def test_record_gives_back_the_job(demo):
    run_cli("sample", "--preset", "digits-demo", "--class", "3", "--class", "5", "-n", "2", "--seed", "7",
            "--steps", "6", "--batch-size", "3", "--scale", "3", "--interval", "0.2,1", "-q",
            "--output", "d{index}.png")
    job = SampleJob.from_record(read_record("d2.png"))
    assert job == SampleJob(classes=("3", "5"), seeds=(7,), num_images=2, preset="digits-demo", steps=6,
                            sampler="euler", guidance="cfg", scale=3.0, interval=(0.2, 1.0), batch_size=3, row=2)
    plan = plan_job(job, *demo, read_record("d2.png"))
    assert plan.notes == () and [it.index for it in plan.keep] == [2]
    assert [[it.row for it in chunk] for chunk in plan.work] == [[0, 1, 2]]  # the batch it was made in


# ---------------------------------------------------------------------------------------------- engine path


class Recorder(Listener):
    def __init__(self, engine, cancel_after: int | None = None, preview_every: int = 0):
        self.engine, self.cancel_after, self.preview_every = engine, cancel_after, preview_every
        self.states, self.previews = [], []

    def step(self, state) -> None:
        self.states.append((state.step, state.total, state.t, state.t_next))
        self.last = state
        if self.preview_every and state.step % self.preview_every == 0:
            self.previews.append(self.engine.decode(self.engine.numpy(state.x0(1))))

    def cancel(self) -> bool:
        return self.cancel_after is not None and len(self.states) >= self.cancel_after


class Counting:
    """A model that counts its calls (cfg: one call per Euler step)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.model(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_states_previews_and_cancel(demo, backend):
    plan = plan_job(SampleJob(classes=("4", "2"), seeds=(3,), **DEMO), *demo)
    engine = make_engine(backend)
    plain = Recorder(engine)
    images = [im for _, im in generate(engine, plan, plain, plain.cancel)]
    assert [s[:2] for s in plain.states] == [(k, 5) for k in range(1, 6)]
    times = [s[2:] for s in plain.states]
    assert times[0][0] == 1.0 and all(a[1] == b[0] for a, b in zip(times[:-1], times[1:], strict=True))
    last = plain.last  # x0 = x_t - t v; the final Euler step lands at t_next: x_t - (t - t_next) v
    x0, final = engine.numpy(last.x0()), engine.numpy(last.next)
    v = engine.numpy(last.velocity)
    np.testing.assert_allclose(final - x0, last.t_next * v, atol=1e-5)

    watched = Recorder(engine, preview_every=1)
    again = [im for _, im in generate(engine, plan, watched, watched.cancel)]
    assert len(watched.previews) == 5 and watched.previews[0].shape == (1, 3, 32, 32)
    assert all(np.array_equal(a, b) for a, b in zip(images, again, strict=True))  # previews change nothing

    dit = engine.models["dit"]
    engine.models["dit"] = counting = Counting(dit)
    stopper = Recorder(engine, cancel_after=2)
    with pytest.raises(Cancelled):
        list(generate(engine, plan, stopper, stopper.cancel))
    assert len(stopper.states) == 2 and counting.calls == 2  # stopped between steps: no third model call
    engine.models["dit"] = dit
    after = [im for _, im in generate(engine, plan)]
    assert all(np.array_equal(a, b) for a, b in zip(images, after, strict=True))  # the next job runs normally


def test_job_gives_the_cli_pixels_and_the_trainer_grid_goes_through_the_same_path(demo):
    """A SampleJob run here, `rae sample` and the trainer's sample grid make the same pixels."""
    from rae_apps.images import to_uint8

    from rae_torch.train.stage2 import generate as trainer_generate

    job = SampleJob(classes=("1", "8", "6"), seeds=(5,), **DEMO)
    plan = plan_job(job, *demo)
    engine = make_engine("torch")
    ours = np.stack([im for _, im in generate(engine, plan)])
    run_cli("sample", "--preset", "digits-demo", "--class", "1", "--class", "8", "--class", "6", "--seed", "5",
            "--steps", "6", "-q", "--output", "c{index}.png", "--backend", "torch")
    cli = np.stack([np.asarray(Image.open(f"c{i}.png")) for i in range(3)])
    assert np.array_equal(ours, cli)
    pipe = plan.pipe
    grid = trainer_generate(engine.models["dit"], engine.rae.decoder, pipe.rae.encoder,
                            (engine.rae.latent_mean, engine.rae.latent_var), pipe.sampler, pipe.guidance, pipe.shift,
                            3, 5, pipe.rae.eps, labels=torch.tensor([1, 8, 6]))
    assert np.array_equal(to_uint8(grid.numpy()), ours)
