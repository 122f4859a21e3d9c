"""The sampler registry: every integration method, its spellings and its tableau, in one table.

`SamplerConfig` validation, the CLI's `--sampler` choices and help, both reference-YAML readers
(sampling and training) and the README derive from `METHODS`; adding a fixed-grid method is one row here.
`plan` turns a SamplerConfig and the time shift into the steps both backends walk (times, stage times,
noise scales), so the twins only do the array arithmetic.

ODE methods are torchdiffeq's fixed-grid solvers (the reference calls `torchdiffeq.odeint` on its own
grid); the SDE is Euler-Maruyama for this time convention (see `Step.noise_scale`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .step_state import CancelCheck, Cancelled, StepCallback

# An explicit Runge-Kutta tableau (c, A, b): stage i evaluates v(x + dt * sum_j A[i][j] k_j, t + c[i] dt)
# and the step is x + dt * sum_i b[i] k_i.
Tableau = tuple[tuple[float, ...], tuple[tuple[float, ...], ...], tuple[float, ...]]


@dataclass(frozen=True)
class Method:
    """One integration method. `name` is what SamplerConfig stores and the CLI shows; `aliases` are the
    other spellings accepted anywhere (torchdiffeq's and the reference YAMLs'), matched case-insensitively."""

    name: str
    mode: str  # "ode" | "sde"
    tableau: Tableau
    aliases: tuple[str, ...] = ()
    summary: str = ""

    @property
    def stages(self) -> int:
        return len(self.tableau[0])


METHODS: tuple[Method, ...] = (
    Method("euler", "ode", ((0.0,), ((),), (1.0,))),
    Method("heun", "ode", ((0.0, 1.0), ((), (1.0,)), (0.5, 0.5)), aliases=("heun2",)),
    Method("heun3", "ode", ((0.0, 1 / 3, 2 / 3), ((), (1 / 3,), (0.0, 2 / 3)), (0.25, 0.0, 0.75))),
    Method("midpoint", "ode", ((0.0, 0.5), ((), (0.5,)), (0.0, 1.0))),
    Method("rk4", "ode", ((0.0, 1 / 3, 2 / 3, 1.0), ((), (1 / 3,), (-1 / 3, 1.0), (1.0, -1.0, 1.0)),
                          (0.125, 0.375, 0.375, 0.125)), summary="the 3/8 rule"),
    Method("euler", "sde", ((0.0,), ((),), (1.0,)), aliases=("euler-maruyama",), summary="Euler-Maruyama"),
)
MODES = ("ode", "sde")
SDE_DIFFUSION_FORMS = {"sigma": "sigma", "linear": "sigma", "constant": "constant"}  # reference name -> ours
# Methods the reference accepts that rae does not run, with the reason (for error messages).
UNSUPPORTED = {"dopri5": "an adaptive solver", "dopri8": "an adaptive solver", "bosh3": "an adaptive solver",
               "fehlberg2": "an adaptive solver", "adaptive_heun": "an adaptive solver",
               "explicit_adams": "a multistep solver", "implicit_adams": "a multistep solver"}


def methods(mode: str = "ode") -> tuple[Method, ...]:
    return tuple(m for m in METHODS if m.mode == mode)


def method(name: str, mode: str = "ode") -> Method:
    """The Method called `name` (or one of its aliases, any case) for `mode`; ValueError if unknown."""
    key = str(name).strip().lower()
    for m in methods(mode):
        if key == m.name or key in m.aliases:
            return m
    known = ", ".join(spellings(mode))
    why = f" ({UNSUPPORTED[key]}, which rae does not provide)" if key in UNSUPPORTED else ""
    where = "the ODE on the reference's fixed time grid" if mode == "ode" else "the SDE by"
    raise ValueError(f"{mode.upper()} sampler method {name!r} is not supported{why}; rae integrates {where} "
                     f"with: {known}")


def spellings(mode: str = "ode") -> list[str]:
    """Every accepted name of `mode`'s methods, canonical names first within each method."""
    return [s for m in methods(mode) for s in (m.name, *m.aliases)]


def cli_choices() -> dict[str, tuple[str, str]]:
    """`--sampler` value -> (mode, method): the ODE methods under every spelling, plus 'sde'."""
    out = {s: ("ode", m.name) for m in methods("ode") for s in (m.name, *m.aliases)}
    out["sde"] = ("sde", methods("sde")[0].name)
    return out


def describe() -> str:
    """One line for help texts and docs, e.g. 'ODE (torchdiffeq's fixed-grid methods): euler, heun (= heun2),
    ...; or sde (Euler-Maruyama)'."""
    parts = []
    for m in methods("ode"):
        notes = [f"= {'/'.join(m.aliases)}"] * bool(m.aliases) + [m.summary] * bool(m.summary)
        parts.append(f"{m.name} ({', '.join(notes)})" if notes else m.name)
    return f"ODE (torchdiffeq's fixed-grid methods): {', '.join(parts)}; or sde ({methods('sde')[0].summary})"


# ------------------------------------------------------------------------------------------ stepping


@dataclass(frozen=True)
class Step:
    """One step from `t` to `t_next` (dt < 0: time runs from noise to data).

    ODE: the method's stages are evaluated at `stage_times`. SDE (reverse-time Euler-Maruyama with
    score = -(x + (1 - t) v) / t): x <- x - (v - D score) h + noise_scale * xi, with h = -dt,
    D = `diffusion` and noise_scale = sqrt(2 D h), zero on the last step (no noise is added there).
    """

    index: int
    t: float
    t_next: float
    dt: float
    stage_times: tuple[float, ...]
    diffusion: float = 0.0
    noise_scale: float = 0.0

    @property
    def h(self) -> float:
        return -self.dt


def stage_times(t: float, t_next: float, c: tuple[float, ...]) -> tuple[float, ...]:
    """t + c_i (t_next - t) in float32, as torchdiffeq computes the stage times; c_i = 1 is t_next itself."""
    import numpy as np

    t32, dt32 = np.float32(t), np.float32(t_next - t)
    return tuple(t_next if ci == 1.0 else float(np.float32(t32 + np.float32(dt32 * np.float32(ci)))) for ci in c)


def rk_combine(x: Any, dt: float, coefficients: tuple[float, ...], ks: list) -> Any:
    """x + dt * sum_i coefficients[i] k_i over the nonzero coefficients (any array type)."""
    total = None
    for a, k in zip(coefficients, ks, strict=False):
        if a != 0:
            total = a * k if total is None else total + a * k
    return x if total is None else x + dt * total


def diffusion(config: Any, t: float) -> float:
    """The SDE's diffusion D(t) = diffusion_norm * f(t): f = t ('sigma') or 1 ('constant')."""
    return config.diffusion_norm * (t if config.diffusion_form == "sigma" else 1.0)


@dataclass(frozen=True)
class Plan:
    """The walk of one SamplerConfig on one time grid: what both backends' `Sampler.steps` follow."""

    config: Any  # SamplerConfig
    grid: Any  # np.ndarray of the N decreasing float32 grid points
    steps: tuple[Step, ...]

    @property
    def method(self) -> Method:
        return method(self.config.method, self.config.mode)

    @property
    def num_function_evals(self) -> int:
        return len(self.steps) * self.method.stages


def plan(config: Any, shift: float) -> Plan:
    """Every step of `config` (a SamplerConfig) on the shifted grid of `config.num_steps` points."""
    from .schedule import sampling_grid

    grid = sampling_grid(config.num_steps, shift)
    times = [float(v) for v in grid]
    m = method(config.method, config.mode)
    last = len(times) - 2
    steps = []
    for k, (t, t_next) in enumerate(zip(times[:-1], times[1:], strict=True)):
        dt = t_next - t
        if config.mode == "sde":
            D = diffusion(config, t)
            scale = math.sqrt(2.0 * D * -dt) if (k < last and D > 0) else 0.0
            steps.append(Step(k, t, t_next, dt, (t,), D, scale))
        else:
            steps.append(Step(k, t, t_next, dt, stage_times(t, t_next, m.tableau[0])))
    return Plan(config, grid, tuple(steps))


class SamplerBase(ABC):
    """What both backends' Sampler share: the plan, `run` (callbacks and cancelling), `steps` and `sample` (the
    trajectory bookkeeping). A backend implements `walk` (one StepState per step, on its arrays), `asarray`
    and `stack`."""

    def __init__(self, config: Any, shift: float):
        self.config = config
        self.plan = plan(config, shift)
        self.grid = self.plan.grid

    @property
    def num_function_evals(self) -> int:
        return self.plan.num_function_evals

    @abstractmethod
    def walk(self, x: Any, velocity: Any, rng: Any = None) -> Iterator[Any]:
        """Every step's state, in the backend's arrays."""

    @staticmethod
    def asarray(x: Any) -> Any:
        return x

    @staticmethod
    @abstractmethod
    def stack(states: list) -> Any:
        """States stacked along a new first axis, in the backend's arrays."""

    def steps(self, x: Any, velocity: Any, rng: Any = None) -> Iterator[Any]:
        """The state after every step."""
        for state in self.walk(x, velocity, rng):
            yield state.next

    def run(self, x: Any, velocity: Any, rng: Any = None, on_step: StepCallback | None = None,
            cancel: CancelCheck | None = None) -> Any:
        """The final state, with `on_step(StepState)` after every step and then `cancel()`; True raises
        Cancelled before the next step (and before the first). The loop both backends' `sample_latents` run."""
        if cancel is not None and cancel():
            raise Cancelled()
        for state in self.walk(x, velocity, rng):
            x = state.next
            if on_step is not None:
                on_step(state)
            if cancel is not None and cancel():
                raise Cancelled()
        return x

    def sample(self, x: Any, velocity: Any, rng: Any = None, trajectory: bool = False) -> Any:
        """The final state, or with `trajectory` every state stacked (index 0 the start)."""
        x = self.asarray(x)
        states = [x]
        for state in self.steps(x, velocity, rng):
            if trajectory:
                states.append(state)
            else:
                states[0] = state
        return self.stack(states) if trajectory else states[0]
