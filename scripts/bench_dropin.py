"""Benchmarks of the framework drop-ins against the frameworks' own step decays.

``make bench`` runs these as the ``dropin`` benchmark; each comparison runs only where
its framework is importable (none is in the project's .venv), so to measure them run
this file with a scratch environment's Python and the checkout on the path::

    PYTHONPATH=. /work/scratch/venv-torch/bin/python scripts/bench_dropin.py
    KERAS_BACKEND=jax PYTHONPATH=. /work/scratch/venv-keras/bin/python scripts/bench_dropin.py

Compared: ``stepsched_cli.torch.StepLR.step()`` and ``MultiStepLR.step()`` with
torch's, with 1 and 10 parameter groups (10 distinct lrs); a jitted call of
``stepsched_cli.keras.StepDecay`` with Keras's ``ExponentialDecay(staircase=True)``
(jax backend); a jitted call of
``stepsched_cli.optax.step_decay`` with ``optax.exponential_decay(staircase=True)``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import interleaved, show

# gamma 0.999999 keeps the lr well above 0 through every call, so each regime keeps
# crossing boundaries (as bench.py's step() comparison).
_GAMMA = 0.999999
_REGIMES = (
    ("no boundary", 10**15),
    ("a boundary every 30 steps", 30),
    ("a boundary every step", 1),
)


def _optimizer(torch: Any, groups: int) -> Any:
    """SGD with ``groups`` groups; their lrs as layer-wise decay gives them (0.1 * 0.75**i):
    every one a different significand, so no two groups share a walk."""
    parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.SGD(
        [{"params": [p], "lr": 0.1 * 0.75**i} for i, p in enumerate(parameters)], lr=0.1
    )


def _stepper(make: Callable[[Any], Any], torch: Any, groups: int) -> Callable[[], object]:
    optimizer = _optimizer(torch, groups)
    scheduler = make(optimizer)
    optimizer.step()  # the documented order; torch warns otherwise
    step: Callable[[], object] = scheduler.step
    return step


def _steplr(module: Any, step_size: int) -> Callable[[Any], Any]:
    return lambda optimizer: module.StepLR(optimizer, step_size, _GAMMA)


def _multisteplr(module: Any, every: int) -> Callable[[Any], Any]:
    # Milestones every `every` steps, past every step the benchmark takes.
    milestones = list(range(every, 2_000_000, every)) if every < 10**6 else [every]
    return lambda optimizer: module.MultiStepLR(optimizer, milestones, _GAMMA)


def bench_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        print("\ntorch drop-in: skipped, torch is not importable")
        return
    import torch

    import stepsched_cli.torch as ours

    theirs = torch.optim.lr_scheduler
    for name, kind in (("StepLR", _steplr), ("MultiStepLR", _multisteplr)):
        for groups in (1, 10):
            for regime, every in _REGIMES:
                results = interleaved(
                    [
                        (
                            f"torch {name}.step(), {groups} group(s)",
                            _stepper(kind(theirs, every), torch, groups),
                        ),
                        (
                            f"stepsched_cli.torch.{name}.step(), {groups} group(s)",
                            _stepper(kind(ours, every), torch, groups),
                        ),
                    ],
                    calls=2000,
                    rounds=11,
                    clock=time.process_time,
                )
                show(
                    f"torch drop-in {name}.step() with {regime}, gamma {_GAMMA}, CPU time",
                    results,
                    "no more than torch's",
                )
                print(f"  ours / torch: x{results[1].seconds / results[0].seconds:.2f}")


def _jitted_calls(jax: Any, schedule: Callable[[Any], Any]) -> Callable[[], object]:
    jitted = jax.jit(schedule)
    counts = [jax.numpy.int32(c) for c in (0, 29, 30, 16_999_999, 17_000_000, 2**31 - 1)]
    for count in counts:
        jitted(count).block_until_ready()  # compile once, outside the clock

    def call() -> None:
        for count in counts:
            jitted(count).block_until_ready()

    return call


def _vmapped_calls(jax: Any, schedule: Callable[[Any], Any]) -> Callable[[], object]:
    """One jitted call over 100,000 counts: the graph's own cost, not the dispatch."""
    jitted = jax.jit(jax.vmap(schedule))
    counts = jax.numpy.arange(0, 2**31 - 1, 21_475, dtype=jax.numpy.int32)[:100_000]
    jitted(counts).block_until_ready()

    def call() -> None:
        jitted(counts).block_until_ready()

    return call


def _dispatch_floor(count: Any) -> Any:
    """One fused kernel doing next to nothing: what any jitted call costs at least."""
    return count.astype("float32")


def _compare(title: str, framework: str, theirs: Any, ours: Any) -> None:
    import jax

    for shape, make in (
        ("6 jitted calls", _jitted_calls),
        ("100,000 counts, vmapped", _vmapped_calls),
    ):
        contenders = [
            (f"{framework}, {shape}", make(jax, theirs)),
            (f"stepsched, {shape}", make(jax, ours)),
        ]
        if shape == "6 jitted calls":
            contenders.append((f"jax's dispatch floor, {shape}", make(jax, _dispatch_floor)))
        results = interleaved(contenders, calls=100, rounds=11, clock=time.process_time)
        show(f"{title}, CPU time", results, f"no more than {framework}'s")
        ratios = [f"x{result.seconds / results[0].seconds:.3f}" for result in results[1:]]
        line = f"  ours / theirs: {ratios[0]}"
        if len(ratios) > 1:
            line += f"; jax's dispatch floor / theirs: {ratios[1]}"
        print(line)


def bench_keras() -> None:
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        print("\nKeras drop-in: skipped, keras or jax is not importable")
        return
    import keras

    from stepsched_cli.keras import StepDecay

    if keras.backend.backend() != "jax":
        print("\nKeras drop-in: skipped, run with KERAS_BACKEND=jax")
        return
    schedules = keras.optimizers.schedules
    for rate, graph in ((0.1, "45 decays: a chain of selects"), (0.5, "150: a table lookup")):
        _compare(
            f"Keras StepDecay vs ExponentialDecay(staircase=True), decay_rate {rate} ({graph}), "
            "under jax.jit (jax backend)",
            "Keras",
            schedules.ExponentialDecay(0.1, 30, rate, staircase=True),
            StepDecay(0.1, 30, decay_rate=rate),
        )
    _compare(
        "Keras StepDecay(boundaries=[30, 80]) vs PiecewiseConstantDecay under jax.jit",
        "Keras",
        schedules.PiecewiseConstantDecay([30, 80], [0.1, 0.01, 0.001]),
        StepDecay(0.1, boundaries=[30, 80]),
    )


def bench_optax() -> None:
    if importlib.util.find_spec("optax") is None:
        print("\noptax drop-in: skipped, optax is not importable")
        return
    import optax

    from stepsched_cli.optax import step_decay

    for rate, graph in ((0.1, "45 decays: a chain of selects"), (0.5, "150: a table lookup")):
        _compare(
            f"optax step_decay vs exponential_decay(staircase=True), decay_rate {rate} "
            f"({graph}), under jax.jit",
            "optax",
            optax.exponential_decay(0.1, 30, rate, staircase=True),
            step_decay(0.1, 30, decay_rate=rate),
        )
    _compare(
        "optax step_decay(boundaries=[30, 80]) vs piecewise_constant_schedule under jax.jit",
        "optax",
        optax.piecewise_constant_schedule(0.1, {30: 0.1, 80: 0.1}),
        step_decay(0.1, boundaries=[30, 80]),
    )


def bench_dropin() -> None:
    bench_torch()
    bench_keras()
    bench_optax()


if __name__ == "__main__":
    bench_dropin() if len(sys.argv) == 1 else {
        "torch": bench_torch,
        "keras": bench_keras,
        "optax": bench_optax,
    }[sys.argv[1]]()
