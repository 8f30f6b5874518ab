"""Benchmarks: ratios measured side by side in one run (``make bench``).

Each comparison runs its contenders interleaved, round after round, and reports the
median per-call time of each and their ratio, so that load on a shared machine hits
both sides alike.  Nothing here is a pass/fail test; the goals are printed beside the
figures and recorded in docs/performance.md.

Run: ``make bench`` (or ``.venv/bin/python scripts/bench.py``).  The torch comparisons
run when torch is importable (``.venv/bin/pip install torch==2.13.0``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from stepsched_cli import StepSchedule, StepScheduler


@dataclass(frozen=True)
class Result:
    name: str
    seconds: float  # median per call


def interleaved(
    contenders: Sequence[tuple[str, Callable[[], object]]],
    calls: int,
    rounds: int,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Result]:
    """Median per-call time of each contender, measured in alternating rounds.

    ``clock=time.process_time`` counts this process's CPU time only, so that on a
    shared, oversubscribed machine the time spent waiting for a core is left out.
    """
    samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
    for _ in range(rounds):
        for name, function in contenders:
            start = clock()
            for _ in range(calls):
                function()
            samples[name].append((clock() - start) / calls)
    return [Result(name, statistics.median(samples[name])) for name, _ in contenders]


def whole_process(
    commands: Sequence[tuple[str, list[str] | Callable[[], list[str]]]], rounds: int
) -> list[Result]:
    """Median wall time of whole processes, run alternately.

    A command may be a function that returns the argument list, for runs that need a
    fresh output path each time.
    """
    samples: dict[str, list[float]] = {name: [] for name, _ in commands}
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    for _ in range(rounds):
        for name, command in commands:
            arguments = command() if callable(command) else command
            start = time.perf_counter()
            subprocess.run(arguments, check=True, capture_output=True, env=environment)
            samples[name].append(time.perf_counter() - start)
    return [Result(name, statistics.median(samples[name])) for name, _ in commands]


def show(title: str, results: list[Result], goal: str, unit: str = "us", group: int = 0) -> None:
    """Print the results; ratios are to the first result, or to the first of each group."""
    scale = 1e6 if unit == "us" else 1e3
    print(f"\n{title}   (goal: {goal})")
    for index, result in enumerate(results):
        base = results[index - index % group if group else 0].seconds
        ratio = result.seconds / base if base else float("nan")
        print(f"  {result.name:<58} {result.seconds * scale:>10.3f} {unit}   x{ratio:.2f}")


def bench_lr_at() -> None:
    rng = random.Random(0)
    # Step sizes that give both horizons the same number of decays (about three), so the
    # comparison isolates the size of the position.
    near_schedule = StepSchedule(0.1, step_size=30, gamma=0.5)
    far_schedule = StepSchedule(0.1, step_size=3 * 10**11, gamma=0.5)
    near = [rng.randrange(10**2) for _ in range(1000)]
    far = [rng.randrange(10**12) for _ in range(1000)]

    def at(schedule: StepSchedule, positions: list[int]) -> Callable[[], object]:
        cycle = itertools.cycle(positions)
        return lambda: schedule.lr_at(next(cycle))

    show(
        "lr_at(t), random t below the horizon",
        interleaved(
            [("horizon 10^2", at(near_schedule, near)), ("horizon 10^12", at(far_schedule, far))],
            calls=2000,
            rounds=15,
        ),
        "ratio within 1.2",
    )
    show(
        "boundary queries near the horizon",
        interleaved(
            [
                ("next_boundary(10^2 - 50)", lambda: near_schedule.next_boundary(50)),
                ("next_boundary(10^12 - 5 10^11)", lambda: far_schedule.next_boundary(5 * 10**11)),
                ("3 segments up to 10^2", lambda: list(near_schedule.segments(total=10**2))),
                ("3 segments up to 10^12", lambda: list(far_schedule.segments(total=10**12))),
                (
                    "first_boundary_below(1e-3), step 30",
                    lambda: near_schedule.first_boundary_below(1e-3),
                ),
                (
                    "first_boundary_below(1e-3), step 3 10^11",
                    lambda: far_schedule.first_boundary_below(1e-3),
                ),
            ],
            calls=2000,
            rounds=15,
        ),
        "ratio within 1.2 between each pair",
        group=2,
    )


class _PlainOptimizer:
    def __init__(self, groups: int = 1) -> None:
        self.param_groups = [{"lr": 0.1} for _ in range(groups)]


# step() regimes: (name, step_size).  gamma 0.999999 never underflows within a run (the
# lr is still above 1e-5 after 10**7 decays), so every regime keeps crossing boundaries.
_STEP_REGIMES = (
    ("no boundary", 10**15),
    ("a boundary every 30 steps", 30),
    ("a boundary every step", 1),
)
_STEP_GAMMA = 0.999999


def _torch_step(torch: Any, groups: int, step_size: int) -> Callable[[], object]:
    parameters = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    optimizer = torch.optim.SGD([{"params": [p]} for p in parameters], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size, _STEP_GAMMA)
    optimizer.step()  # the documented order; torch warns otherwise
    return cast(Callable[[], object], scheduler.step)


def _bare_loop(groups: int) -> Callable[[], object]:
    """The floor: set each group's lr, nothing else."""
    param_groups = _PlainOptimizer(groups).param_groups

    def bare() -> None:
        lr = 0.1
        for group in param_groups:
            group["lr"] = lr

    return bare


def bench_step() -> None:
    try:
        import torch
    except ImportError:
        torch = None
    note = "" if torch is not None else "  [torch not importable: bare-loop ratios only]"
    for groups in (1, 10):
        for regime, step_size in _STEP_REGIMES:
            contenders: list[tuple[str, Callable[[], object]]] = [
                (f"bare loop setting {groups} group lr(s)", _bare_loop(groups))
            ]
            if torch is not None:
                contenders.append(
                    (
                        f"torch StepLR.step(), {groups} group(s)",
                        _torch_step(torch, groups, step_size),
                    )
                )
            ours = StepScheduler(0.1, step_size, _STEP_GAMMA, optimizer=_PlainOptimizer(groups))
            contenders.append((f"StepScheduler.step(), {groups} group(s)", ours.step))
            results = interleaved(contenders, calls=3000, rounds=15, clock=time.process_time)
            show(
                f"step() with {regime}, gamma {_STEP_GAMMA}, CPU time{note}",
                results,
                "StepScheduler at least 4x cheaper than torch"
                + (", within 2x of the bare loop" if step_size > 10**9 else ""),
            )
            if torch is not None:
                print(f"  torch / StepScheduler: x{results[1].seconds / results[2].seconds:.2f}")


def bench_cold_lr_at() -> None:
    """lr_at(t) on a fresh schedule (no per-schedule cache) against the cached call."""
    gamma = 1 - 1e-16
    contenders: list[tuple[str, Callable[[], object]]] = []
    for label, t in (("10^2", 10**2), ("10^12", 10**12), ("2^63", 2**63)):
        contenders.append(
            (f"cold lr_at({label}), gamma 1-1e-16", lambda t=t: _fresh(gamma).lr_at(t))
        )
    warm = _fresh(gamma)
    contenders.append(("cached lr_at(10^12)", lambda: warm.lr_at(10**12)))
    show(
        "lr_at(t) cold, step_size 1 (CPU time)",
        interleaved(contenders, calls=300, rounds=11, clock=time.process_time),
        "cold cost flat in t",
    )


def _fresh(gamma: float) -> StepSchedule:
    return StepSchedule(0.1, step_size=1, gamma=gamma)


_LISTING_FLOOR = """
import sys
write = sys.stdout.write
lr, gamma, step = 0.1, 0.999999, int(sys.argv[2])
if sys.argv[1] == "table":
    for position in range(0, 10**7, 10):
        write(f"{position},{lr * gamma ** (position // step)!r}\\n")
else:
    for k in range(1, 10**6 + 1):
        write(f"{k},{lr * gamma ** (k - 1)!r},{lr * gamma ** k!r}\\n")
"""


def bench_listings() -> None:
    """Long CSV listings against a Python loop printing the same rows (float powers)."""
    common = ["--lr", "0.1", "--gamma", "0.999999", "--format", "csv"]
    show(
        "long listings, whole process",
        whole_process(
            [
                (
                    "python loop, 10^6 rows of table",
                    [sys.executable, "-c", _LISTING_FLOOR, "table", "30"],
                ),
                (
                    "table --total 10^7 --every 10 (10^6 rows)",
                    _stepsched(
                        "table",
                        *common,
                        "--step-size",
                        "30",
                        "--total",
                        "10000000",
                        "--every",
                        "10",
                    ),
                ),
                (
                    "python loop, 10^6 rows of boundaries",
                    [sys.executable, "-c", _LISTING_FLOOR, "boundaries", "1"],
                ),
                (
                    "boundaries --count 10^6",
                    _stepsched("boundaries", *common, "--step-size", "1", "--count", "1000000"),
                ),
            ],
            rounds=3,
        ),
        "a walk per row, not a power: ratio as small as the CSV writing allows",
        unit="ms",
        group=2,
    )
    with tempfile.TemporaryDirectory() as folder:
        # 10^5 milestones are too long for one command-line argument: a state file.
        path = os.path.join(folder, "milestones.json")
        milestones = list(range(10, 10**6 + 1, 10))
        state = {
            "format": "stepsched.state", "version": 1, "mode": "step", "step": 0,
            "initial_lr": 0.1, "lr": 0.1, "gamma": 0.993, "milestones": milestones,
        }  # fmt: skip
        with open(path, "w") as stream:
            json.dump(state, stream)
        floor = (
            "import json, bisect, sys; m = json.load(open(sys.argv[1]))['milestones']; "
            "k = bisect.bisect_left(range(1, len(m) + 1), True, "
            "key=lambda k: 0.1 * 0.993 ** k < 1e-300); print(m[k])"
        )
        show(
            "boundaries --below 1e-300 with 10^5 milestones (gamma 0.993), whole process",
            whole_process(
                [
                    ("json.load + bisect + float power", [sys.executable, "-c", floor, path]),
                    (
                        "stepsched boundaries --state FILE --below 1e-300 -f json",
                        _stepsched(
                            "boundaries", "--state", path, "--below", "1e-300", "--format", "json"
                        ),
                    ),
                ],
                rounds=3,
            ),
            "a binary search on the decay count: close to the floor",
            unit="ms",
        )


# The ImageNet recipe (issue 22): per-step rows over 90 epochs of 5005 steps.
_RECIPE = [
    "--milestones", "30ep,60ep,80ep", "--warmup-steps", "5ep", "--warmup-start-lr", "0.01",
    "--dataset-size", "1281167", "--global-batch-size", "256",
]  # fmt: skip
_RECIPE_FLOOR = """
import sys
from bisect import bisect_right
write = sys.stdout.write
write("step,epoch,lr\\n")
steps_per_epoch, warmup, start, peak = 5005, 25025, 0.01, 0.1
milestones, levels = (150150, 300300, 400400), (0.1, 0.01, 0.001, 0.0001)
for step in range(90 * steps_per_epoch):
    if step < warmup:
        lr = start + (peak - start) * step / warmup
    else:
        lr = levels[bisect_right(milestones, step)]
    write(f"{step},{step // steps_per_epoch},{lr!r}\\n")
"""


def bench_recipe_csv() -> None:
    """The recipe's per-step CSV (450,450 rows) against a Python loop printing the rows."""
    show(
        "the recipe per step as CSV, 450,450 rows, whole process",
        whole_process(
            [
                ("python loop printing step,epoch,lr", [sys.executable, "-c", _RECIPE_FLOOR]),
                (
                    "table RECIPE --epochs 90 --every 1 -f csv",
                    _stepsched("table", *_RECIPE, "--epochs", "90", "--every", "1", "-f", "csv"),
                ),
            ],
            rounds=5,
        ),
        "within 2x of the loop",
        unit="ms",
    )


def _stepsched(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "stepsched_cli", *arguments]


def bench_horizons() -> None:
    """Whole-process table and plot at horizons 10^2 and 10^12 with the same number of rows."""
    with tempfile.TemporaryDirectory() as folder:
        counter = itertools.count()

        def fresh_png() -> str:  # a new path per run: plot never overwrites
            return os.path.join(folder, f"plot{next(counter)}.png")

        near = ["--lr", "0.1", "--step-size", "30", "--total", "100"]
        far = ["--lr", "0.1", "--step-size", str(3 * 10**11), "--total", str(10**12)]
        show(
            "table and plot, whole process, 4 rows / 3 boundaries either way",
            whole_process(
                [
                    ("table, horizon 10^2", _stepsched("table", *near)),
                    ("table, horizon 10^12", _stepsched("table", *far)),
                    (
                        "plot png, horizon 10^2",
                        lambda: _stepsched("plot", *near, "-o", fresh_png()),
                    ),
                    (
                        "plot png, horizon 10^12",
                        lambda: _stepsched("plot", *far, "-o", fresh_png()),
                    ),
                ],
                rounds=7,
            ),
            "ratio within 1.2 between each pair",
            unit="ms",
            group=2,
        )
        billion = [
            "--lr", "1", "--gamma", "0.9999999999", "--step-size", "1000",
            "--total", str(10**12),
        ]  # fmt: skip
        show(
            "plot of a schedule with 10^9 boundaries in range",
            whole_process(
                [
                    (
                        "plot png, 10^9 boundaries",
                        lambda: _stepsched("plot", *billion, "-o", fresh_png()),
                    )
                ],
                rounds=3,
            ),
            "under 2 s",
            unit="ms",
        )


# Runs a command from a small, fresh interpreter and reports the command's peak RSS: a
# child forked from this process (which may hold torch) would count its inherited pages.
_PEAK_WRAPPER = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], {**os.environ, "NO_COLOR": "1"})
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\\n")
"""


def _run_measured(arguments: list[str]) -> tuple[float, int]:
    """Wall time (of the wrapper, a few ms more) and peak resident memory of a command."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    peak_kib, code = result.stderr.split()[-2:]
    if code != "0":
        raise RuntimeError(f"{arguments} failed: {result.stderr}")
    return elapsed, int(peak_kib) * 1024


_MAKE_CHECKPOINT = """
import os, sys, torch
path, size_gib = sys.argv[1], float(sys.argv[2])
model = torch.nn.Linear(int(size_gib * 2**28), 1, bias=False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30, 0.1)
for _ in range(45):
    optimizer.step()
    scheduler.step()
state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
         "lr_scheduler": scheduler.state_dict()}
torch.save(state, path + ".partial")
os.replace(path + ".partial", path)
"""


def _big_checkpoint(size_gib: float) -> str:
    """A torch checkpoint of about ``size_gib`` GiB in /tmp, made once and reused.

    It is made in a child process so that this process stays small: a child's peak
    memory as the kernel reports it can include what it inherited before exec.
    """
    path = os.path.join(tempfile.gettempdir(), f"stepsched-bench-{size_gib}gib.pt")
    if not os.path.exists(path):
        print(f"  (writing {path} once; later runs reuse it)")
        subprocess.run([sys.executable, "-c", _MAKE_CHECKPOINT, path, str(size_gib)], check=True)
    return path


def _print_with_peaks(
    title: str, names: list[str], times: dict[str, list[float]], peaks: dict[str, int]
) -> None:
    """Median times against the first contender's, with each one's peak RSS."""
    print(f"\n{title}")
    base = statistics.median(times[names[0]])
    for name in names:
        median = statistics.median(times[name])
        print(
            f"  {name:<58} {median * 1e3:>10.3f} ms   x{median / base:.2f}   "
            f"peak RSS {peaks[name] / 2**20:.1f} MiB"
        )


def bench_inspect() -> None:
    """inspect of a multi-GB checkpoint against torch.load(mmap=True, weights_only=True)."""
    if importlib.util.find_spec("torch") is None:
        print("\ninspect of a multi-GB checkpoint: skipped, torch is not importable")
        return
    path = _big_checkpoint(2.0)
    size = os.path.getsize(path)
    contenders = [
        (
            "torch.load(mmap=True, weights_only=True)",
            [
                sys.executable,
                "-c",
                f"import torch; torch.load({path!r}, mmap=True, weights_only=True)",
            ],
        ),
        ("stepsched inspect", _stepsched("inspect", path)),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    peaks: dict[str, int] = dict.fromkeys(times, 0)
    for _ in range(5):
        for name, arguments in contenders:
            elapsed, peak = _run_measured(arguments)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
    _print_with_peaks(
        f"inspect of a {size / 2**30:.2f} GiB torch checkpoint, whole process   "
        "(goal: faster than torch.load, peak memory under 100 MiB)",
        [name for name, _ in contenders],
        times,
        peaks,
    )


# -- start-up and the human table (the output section) ----------------------------

# The floor for this stack: a minimal Typer 0.28 app printing a four-row Rich table
# through a Console, and the same app's --help (Typer's rich help, markdown mode).
_FLOOR_APP = """
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(rich_markup_mode="markdown")


@app.command()
def table(lr: float = 0.1, step_size: int = 30) -> None:
    \"\"\"Show the schedule.\"\"\"
    grid = Table()
    grid.add_column("steps")
    grid.add_column("lr")
    for row in (("0-29", "0.1"), ("30-59", "0.01"), ("60-89", "0.001"), ("90+", "0.0001")):
        grid.add_row(*row)
    Console().print(grid)


@app.command()
def at(t: int = 0) -> None:
    \"\"\"Show the lr at T.\"\"\"


app()
"""


def _cached_environment() -> dict[str, str]:
    """The environment of an installed command: bytecode cached, stdout buffered."""
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    for variable in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        environment.pop(variable, None)
    return environment


def _compile_bytecode(folder: str) -> None:
    import compileall

    import stepsched_cli

    compileall.compile_dir(os.path.dirname(stepsched_cli.__file__), quiet=1)
    compileall.compile_dir(folder, quiet=1)


def _run_on_terminal(arguments: list[str], environment: dict[str, str], folder: str) -> None:
    """Run a command with a pseudo-terminal as its stdout (its output is read and dropped)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        subprocess.run(
            arguments, stdout=child, stderr=subprocess.DEVNULL, env=environment,
            cwd=folder, check=True,
        )  # fmt: skip
        while select.select([main], [], [], 0)[0] and os.read(main, 65536):
            pass
    finally:
        os.close(main)
        os.close(child)


def _startup_runs(
    commands: Sequence[tuple[str, list[str], bool]], rounds: int, folder: str
) -> list[Result]:
    """Median wall time of whole processes run alternately; the flag asks for a terminal."""
    environment = _cached_environment()
    samples: dict[str, list[float]] = {name: [] for name, _, _ in commands}
    for _ in range(rounds):
        for name, arguments, terminal in commands:
            start = time.perf_counter()
            if terminal:
                _run_on_terminal(arguments, environment, folder)
            else:
                subprocess.run(
                    arguments, check=True, capture_output=True, env=environment, cwd=folder
                )
            samples[name].append(time.perf_counter() - start)
    return [Result(name, statistics.median(samples[name])) for name, _, _ in commands]


def bench_startup() -> None:
    """Start-up of each kind of command against the stack's floor, bytecode cached."""
    python = sys.executable
    seed = ["--lr", "0.1", "--step-size", "30"]
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "floor_app.py"), "w", encoding="utf-8") as file:
            file.write(_FLOOR_APP)
        state = os.path.join(folder, "run.json")
        subprocess.run(
            _stepsched("init", *seed, "-o", state), check=True, env=_cached_environment()
        )
        _compile_bytecode(folder)
        floor = [python, "-m", "floor_app"]
        ours = [python, "-m", "stepsched_cli"]
        show(
            "start-up, whole process, bytecode cached, against a minimal Typer app that "
            "prints a four-row Rich table",
            _startup_runs(
                [
                    ("floor: Typer app, Rich table (piped)", [*floor, "table"], False),
                    ("stepsched table (piped)", [*ours, "table", *seed], False),
                    ("floor: Typer app, Rich table (terminal)", [*floor, "table"], True),
                    ("stepsched table (terminal)", [*ours, "table", *seed], True),
                    ("floor: Typer app, Rich table", [*floor, "table"], False),
                    ("stepsched inspect run.json", [*ours, "inspect", state], False),
                    ("floor: Typer app, Rich table ", [*floor, "table"], False),
                    ("stepsched plot --log (terminal plot, piped)", [*ours, "plot", *seed, "--log"],
                     False),
                    ("floor: Typer app --help", [*floor, "--help"], False),
                    ("stepsched --help", [*ours, "--help"], False),
                    ("stepsched table (piped) ", [*ours, "table", *seed], False),
                    ("stepsched --help ", [*ours, "--help"], False),
                ],
                rounds=11,
                folder=folder,
            ),
            "each command within 1.2x of the floor beside it; --help within 1.2x of Typer's "
            "own --help (the last pair: --help against a command)",
            unit="ms",
            group=2,
        )  # fmt: skip


def _time_to_first_row(arguments: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Seconds until the first data row arrives, and from closing the pipe to the exit."""
    start = time.perf_counter()
    process = subprocess.Popen(
        arguments, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment
    )
    assert process.stdout is not None
    for _ in range(5):  # title, blank line, header, rule, first row
        process.stdout.readline()
    first_row = time.perf_counter() - start
    process.stdout.close()
    closed = time.perf_counter()
    process.wait()
    return first_row, time.perf_counter() - closed


def _measured(arguments: list[str], environment: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS of a command run from a small wrapper (see _PEAK_WRAPPER)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_WRAPPER, *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
        env=environment,
    )  # fmt: skip
    return time.perf_counter() - start, int(result.stderr.split()[-2]) * 1024


def bench_human_table() -> None:
    """The default human table against CSV for 10^5 rows; first row; a closed pipe."""
    environment = _cached_environment()
    rows = ["--lr", "0.1", "--step-size", "30", "--every", "1", "--total", str(10**5)]
    contenders = [
        ("table --every 1 --total 10^5 --format csv", _stepsched("table", *rows, "-f", "csv")),
        ("table --every 1 --total 10^5 (human)", _stepsched("table", *rows)),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    peaks: dict[str, int] = dict.fromkeys(times, 0)
    for _ in range(3):
        for name, arguments in contenders:
            elapsed, peak = _measured(arguments, environment)
            times[name].append(elapsed)
            peaks[name] = max(peaks[name], peak)
    _print_with_peaks(
        "human table against CSV, 10^5 rows, whole process   (goal: within 2x of CSV)",
        [name for name, _ in contenders],
        times,
        peaks,
    )
    huge = _stepsched("table", *rows[:-1], str(10**9))
    short = _stepsched("table", "--lr", "0.1", "--step-size", "30")
    firsts: list[float] = []
    stops: list[float] = []
    wholes: list[float] = []
    for _ in range(7):
        first, stop = _time_to_first_row(huge, environment)
        firsts.append(first)
        stops.append(stop)
        start = time.perf_counter()
        subprocess.run(short, check=True, capture_output=True, env=environment)
        wholes.append(time.perf_counter() - start)
    whole = statistics.median(wholes)
    print(
        "\nhuman table of 10^9 rows read by `head -5`, whole process   (goal: first row under "
        "0.2 s; ratios to a whole 4-row table run alternately)"
    )
    for name, seconds in [
        ("a whole 4-row table (stepsched table, piped)", whole),
        ("first row of 10^9 (from the spawn)", statistics.median(firsts)),
        ("exit after the reader closes the pipe", statistics.median(stops)),
    ]:
        print(f"  {name:<58} {seconds * 1e3:>10.3f} ms   x{seconds / whole:.2f}")


# -- check: a long log against pandas (the runlog engineer's section) -------------------

_CHECK_ROWS = 10**7
_CHECK_JSONL_ROWS = 10**6
_CHECK_STEP_SIZE = 2_500_000
_CHECK_SCHEDULE = ["--lr", "0.1", "--step-size", str(_CHECK_STEP_SIZE), "--gamma", "0.1"]

_PANDAS_CSV = """
import sys, numpy as np, pandas as pd
frame = pd.read_csv(sys.argv[1])
steps, lrs = frame["step"].to_numpy(), frame["lr"].to_numpy()
expected = 0.1 * 0.1 ** (steps // int(sys.argv[2]))
bad = np.abs(lrs - expected) > 1e-6 * np.maximum(np.abs(lrs), np.abs(expected))
sys.exit(1 if bad.any() else 0)
"""

_PANDAS_JSONL = _PANDAS_CSV.replace(
    "pd.read_csv(sys.argv[1])", "pd.read_json(sys.argv[1], lines=True)"
)


def _check_log(rows: int, suffix: str) -> str:
    """A correct run's log of ``rows`` points in /tmp (CSV or JSON lines), made once."""
    path = os.path.join(tempfile.gettempdir(), f"stepsched-bench-check-{rows}.{suffix}")
    if os.path.exists(path):
        return path
    print(f"  (writing {path} once; later runs reuse it)")
    schedule = StepSchedule(0.1, step_size=_CHECK_STEP_SIZE, gamma=0.1)
    line = "{},{}\n" if suffix == "csv" else '{{"step": {}, "lr": {}}}\n'
    with open(path + ".partial", "w") as handle:
        if suffix == "csv":
            handle.write("step,lr\n")
        for start in range(0, rows, 100_000):
            stop = min(rows, start + 100_000)
            lr = repr(schedule.lr_at(start))  # constant within a block of 100,000
            handle.write("".join(line.format(t, lr) for t in range(start, stop)))
    os.replace(path + ".partial", path)
    return path


def bench_check() -> None:
    """check on a 10**7-row CSV and a 10**6-row JSONL against pandas + numpy."""
    csv_log, jsonl_log = _check_log(_CHECK_ROWS, "csv"), _check_log(_CHECK_JSONL_ROWS, "jsonl")
    stepsched = [os.path.join(os.path.dirname(sys.executable), "stepsched"), "check"]
    seconds, peak = _run_measured([*stepsched, csv_log, *_CHECK_SCHEDULE])
    print(
        f"\ncheck, {_CHECK_ROWS:,}-row CSV: {seconds:.2f} s, peak RSS {peak / 2**20:.1f} MiB"
        "   (goal: peak under 100 MiB)"
    )
    if importlib.util.find_spec("pandas") is None:
        print("  pandas is not installed (it is in the dev extra): no side-by-side ratio")
        return
    late = ["--lr", "0.1", "--step-size", str(_CHECK_STEP_SIZE // 4), "--gamma", "0.1"]
    for title, log, script, schedule, goal in [
        (f"check, {_CHECK_ROWS:,}-row CSV", csv_log, _PANDAS_CSV, _CHECK_SCHEDULE, "within 1.2x"),
        (
            f"check, {_CHECK_ROWS:,}-row CSV, a run 4x late (mismatch and diagnosis)",
            csv_log,
            _PANDAS_CSV,
            late,
            "no goal: the diagnosis is extra work",
        ),
        (
            f"check, {_CHECK_JSONL_ROWS:,}-row JSONL",
            jsonl_log,
            _PANDAS_JSONL,
            _CHECK_SCHEDULE,
            "within 1.5x",
        ),
    ]:
        pandas = [sys.executable, "-c", script, log, schedule[3]]
        ours = [*stepsched, log, *schedule]
        if schedule is late:  # both exit 1 on a mismatch, which whole_process refuses
            pandas, ours = (
                ["sh", "-c", '"$@"; exit 0', "sh", *command] for command in (pandas, ours)
            )
        show(
            title,
            whole_process([("pandas + numpy", pandas), ("stepsched check", ours)], rounds=3),
            goal,
            unit="ms",
        )


def bench_dropin() -> None:
    """The framework drop-ins against the frameworks' own (scripts/bench_dropin.py)."""
    from bench_dropin import bench_dropin as run  # this folder is on sys.path when run

    run()


BENCHMARKS: dict[str, Callable[[], None]] = {
    "lr_at": bench_lr_at,
    "step": bench_step,
    "cold_lr_at": bench_cold_lr_at,
    "listings": bench_listings,
    "recipe_csv": bench_recipe_csv,
    "startup": bench_startup,
    "human_table": bench_human_table,
    "horizons": bench_horizons,
    "inspect": bench_inspect,
    "check": bench_check,
    "dropin": bench_dropin,
}


def main(argv: Sequence[str]) -> None:
    chosen = list(argv) or list(BENCHMARKS)
    print(
        f"stepsched benchmarks: {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    )
    for name in chosen:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
