"""Time in either unit: the ImageNet recipe in one command, typed positions, check pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepsched_cli.formats.registry import unpositioned_formats
from stepsched_cli.schedule import StepSchedule

from .conftest import Invoke

# Goyal et al.: 1,281,167 images, global batch 256 (5005 steps per epoch), a linear
# warmup over 5 epochs updated every step, decays x0.1 at epochs 30, 60 and 80.
RECIPE = [
    "--milestones", "30ep,60ep,80ep", "--warmup-steps", "5ep", "--warmup-start-lr", "0.01",
    "--dataset-size", "1281167", "--global-batch-size", "256",
]  # fmt: skip
RECIPE_TITLE = (
    "lr=0.1, milestones=150150,300300,400400, gamma=0.1, warmup_steps=25025, "
    "warmup_start_lr=0.01\n5005 steps per epoch: 1281167 samples, batch 256 per rank\n"
)


def test_the_recipe_is_one_table(run: Invoke) -> None:
    result = run("table", *RECIPE, "--epochs", "90")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == RECIPE_TITLE + (
        "90 epochs = 450450 steps\n"
        "\n"
        "          steps   epochs                           lr\n"
        " ─────────────────────────────────────────────────────\n"
        "        0-25024      0-4   0.01 to 0.0999964 (warmup)\n"
        "   25025-150149     5-29                          0.1\n"
        "  150150-300299    30-59                         0.01\n"
        "  300300-400399    60-79                        0.001\n"
        "  400400-450449    80-89                       0.0001\n"
    )


@pytest.mark.parametrize("warmup", ["--warmup-steps", "--warmup"])
def test_the_recipe_in_json_is_in_steps(run: Invoke, warmup: str) -> None:
    args = [warmup if arg == "--warmup-steps" else arg for arg in RECIPE]
    result = run("boundaries", *args, "--total", "90ep", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"step": 150150, "epoch": 30, "lr_before": 0.1, "lr_after": 0.01},
        {"step": 300300, "epoch": 60, "lr_before": 0.01, "lr_after": 0.001},
        {"step": 400400, "epoch": 80, "lr_before": 0.001, "lr_after": 0.0001},
    ]


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("0", {"step": 0, "epoch": 0, "lr": 0.01, "next_boundary": 150150}),
        ("25025st", {"step": 25025, "epoch": 5, "lr": 0.1, "next_boundary": 150150}),
        ("30ep", {"step": 150150, "epoch": 30, "lr": 0.01, "next_boundary": 300300}),
        ("2e5", {"step": 200000, "epoch": 39, "lr": 0.01, "next_boundary": 300300}),
        ("80ep", {"step": 400400, "epoch": 80, "lr": 0.0001, "next_boundary": None}),
    ],
)
def test_at_takes_the_recipe_in_either_unit(
    run: Invoke, position: str, expected: dict[str, object]
) -> None:
    result = run("at", position, *RECIPE, "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert {key: record[key] for key in expected} == expected
    assert record["mode"] == "step"


def test_at_a_step_of_an_epoch_plan_says_which_epoch(run: Invoke) -> None:
    result = run("at", "200000st", "--mode", "epoch", "--milestones", "30,60,80",
                 "--steps-per-epoch", "5005")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "lr=0.1, milestones=30,60,80, gamma=0.1, mode=epoch\n"
        "step 200000 (in epoch 39): lr 0.01\n"
        "next decay at epoch 60 (in 21): lr 0.001\n"
    )
    record = json.loads(
        run(
            "at",
            "200000st",
            "--mode",
            "epoch",
            "--milestones",
            "30,60,80",
            "--steps-per-epoch",
            "5005",
            "--json",
        ).stdout
    )
    assert (record["step"], record["epoch"], record["lr"]) == (200000, 39, 0.01)


def test_the_epoch_recipe_converts_whole_steps(run: Invoke) -> None:
    result = run("table", "--mode", "epoch", "--milestones", "150150st,300300st",
                 "--steps-per-epoch", "5005", "--total", "450450st", "-f", "csv")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "start_step,end_step,start_epoch,end_epoch,lr\n"
        "0,150149,0,29,0.1\n"
        "150150,300299,30,59,0.01\n"
        "300300,450449,60,89,0.001\n"
    )


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        (
            ["--mode", "epoch", "--step-size", "100st", "--steps-per-epoch", "5005"],
            "--step-size",
            "step_size 100st is not a whole number of epochs (5005 steps each): the nearest "
            "whole values are 0ep (0st) and 1ep (5005st)",
        ),
        (
            ["--mode", "epoch", "--milestones", "30,200000st", "--steps-per-epoch", "5005"],
            "--milestones",
            "milestones[1] 200000st is not a whole number of epochs (5005 steps each): the "
            "nearest whole values are 39ep (195195st) and 40ep (200200st)",
        ),
        (
            ["--milestones", "30ep,60ep"],
            "--milestones",
            "milestones[0] 30ep counts epochs and the schedule counts steps: converting needs "
            "the steps per epoch; give --steps-per-epoch, or the data pipeline (--dataset-size "
            "with --batch-size or --global-batch-size)",
        ),
        (
            ["--warmup-steps", "5ep"],
            "--warmup-steps",
            "warmup_steps 5ep counts epochs and the schedule counts steps: converting needs "
            "the steps per epoch; give --steps-per-epoch",
        ),
        (
            ["--mode", "epoch", "--total", "1000st", "--steps-per-epoch", "300"],
            "--total",
            "total 1000st is not a whole number of epochs (300 steps each): the nearest whole "
            "values are 3ep (900st) and 4ep (1200st)",
        ),
        (["--total", "2.5"], "--total", "total must be a whole number of positions, got '2.5'"),
        (["--step-size", "0ep", "--steps-per-epoch", "10"], "--step-size",
         "step_size must be at least 1, got 0ep"),
        (["--step-size", "3 weeks"], "--step-size", "step_size must be a whole number"),
    ],
)  # fmt: skip
def test_units_that_do_not_convert_are_usage_errors(
    run: Invoke, args: list[str], option: str, message: str
) -> None:
    result = run("table", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"stepsched: error: Invalid value for '{option}': {message}")
    assert result.stderr.count("\n") == 1


def test_numbers_people_type(run: Invoke) -> None:
    result = run("table", "--total", "2.5e5", "--step-size", "1e5", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "start_step,end_step,lr\n0,99999,0.1\n100000,199999,0.01\n200000,249999,0.001\n"
    )


def test_every_schedule_command_takes_epochs_and_mode(run: Invoke) -> None:
    for command in ("table", "boundaries", "plot", "diff", "solve"):
        help_text = run(command, "--help").stdout
        assert "--epochs" in help_text, command
        assert "--mode" in help_text, command
        assert "--steps-per-epoch" in help_text, command


def test_plot_in_the_terminal_draws_an_epoch_warmup_in_steps(run: Invoke) -> None:
    result = run("plot", "--mode", "epoch", "--milestones", "30,60,80", "--warmup", "5",
                 "--warmup-start-lr", "0.01", "--steps-per-epoch", "5005", "--x", "steps",
                 "--epochs", "90")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # The warmup ramps once per epoch: five steps up over the first 25025 steps.
    assert lines[1:6] == [
        "   0.1┤    ┌──────────────────────────┐",
        "      │  ┌─┘                          │",
        "      │ ┌┘                            │",
        "      │ │                             │",
        "  0.01┤─┘                             └──────────────────────────────┐",
    ]
    assert lines[-1].rstrip().endswith("step")


# -- check: shifted decays, the decays listed, the picture ---------------------


def late_log(path: Path) -> Path:
    """The recipe at 10 steps per epoch, every decay one epoch late, logged every step."""
    late = StepSchedule(0.1, milestones=(310, 610, 810), warmup_steps=50, warmup_start_lr=0.01)
    path.write_text("step,lr\n" + "".join(f"{t},{late.lr_at(t)!r}\n" for t in range(900)))
    return path


SMALL_RECIPE = ["--milestones", "30ep,60ep,80ep", "--warmup", "5ep", "--warmup-start-lr",
                "0.01", "--steps-per-epoch", "10"]  # fmt: skip


def test_check_names_decays_one_epoch_late(run: Invoke, tmp_path: Path) -> None:
    result = run("check", str(late_log(tmp_path / "late.csv")), *SMALL_RECIPE)
    assert result.exit_code == 1
    assert result.stdout == (
        "mismatch at step 300: expected lr 0.01, logged 0.1 (30 of 900 points differ)\n"
        "diagnosis: each decay came 10 steps (1 epoch) late, the lrs as planned: planned at "
        "steps 300, 600, 800, first seen at 310, 610, 810; the milestones are off by a "
        "constant, as with epochs counted from 1 (first mismatch at step 300: expected 0.01, "
        "logged 0.1)\n"
        "decays: planned and observed (the first logged step at the new lr)\n"
        "\n"
        "  planned at step   observed at   difference        planned lr         logged lr\n"
        " ────────────────────────────────────────────────────────────────────────────────\n"
        "              300           310          +10       0.1 -> 0.01       0.1 -> 0.01\n"
        "              600           610          +10     0.01 -> 0.001     0.01 -> 0.001\n"
        "              800           810          +10   0.001 -> 0.0001   0.001 -> 0.0001\n"
    )
    report = json.loads(run("check", str(tmp_path / "late.csv"), *SMALL_RECIPE, "--json").stdout)
    assert report["diagnosis"]["kind"] == "shifted"
    assert (report["diagnosis"]["shift"], report["diagnosis"]["shift_range"]) == (10, [10, 10])
    assert [row["difference"] for row in report["decays"]] == [10, 10, 10]


def test_check_draws_plan_and_log(run: Invoke, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    log = late_log(tmp_path / "late.csv")
    target = tmp_path / "check.png"
    result = run("check", str(log), *SMALL_RECIPE, "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"wrote {target}: the plan and 900 of the 900 logged points (png)\n"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plotted = run("check", str(log), *SMALL_RECIPE, "--plot")
    lines = plotted.stdout.splitlines()
    assert "•" in plotted.stdout
    assert lines[-1].rstrip().endswith("step")


def test_check_refuses_an_unknown_picture_format(run: Invoke, tmp_path: Path) -> None:
    result = run("check", str(late_log(tmp_path / "late.csv")), *SMALL_RECIPE, "-o", "x.gif")
    assert result.exit_code == 2
    assert "Invalid value for '--output': the file name must end in .png, .svg or .pdf" in (
        result.stderr
    )


# -- a real run: SequentialLR's milestones counted from its switch ----------------

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
SEQUENTIAL = LOGS / "sequential_milestones.csv"
SCALED_RECIPE = ["--milestones", "30ep,60ep,80ep", "--warmup", "5ep", "--warmup-start-lr",
                 "0.01", "--steps-per-epoch", "8"]  # fmt: skip


def test_the_recorded_run_holds_what_torch_reported() -> None:
    manifest = json.loads((LOGS / "sequential_milestones.json").read_text())
    rows = (line.split(",") for line in SEQUENTIAL.read_text().splitlines()[1:])
    logged = {int(step): float(lr) for step, lr in rows}
    assert len(logged) == manifest["rows"] == 720
    assert {str(step): logged[step] for step in map(int, manifest["lrs"])} == manifest["lrs"]


def test_check_finds_sequential_milestones_five_epochs_late(run: Invoke) -> None:
    result = run("check", str(SEQUENTIAL), *SCALED_RECIPE, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["first_mismatch_step"] == 240
    diagnosis = report["diagnosis"]
    assert (diagnosis["kind"], diagnosis["shift"]) == ("shifted", 40)
    assert diagnosis["message"].startswith(
        "each decay came 40 steps (5 epochs) late, the lrs as planned: planned at steps "
        "240, 480, 640, first seen at 280, 520, 680; the decay clock starts after the "
        "warmup, as torch's SequentialLR restarts the second scheduler's count at its switch"
    )
    assert [(row["planned_at"], row["observed_at"]) for row in report["decays"]] == [
        (240, 280),
        (480, 520),
        (640, 680),
    ]
    # The run is exactly the plan with the decay clock started after the warmup.
    prefixed = run("check", str(SEQUENTIAL), *SCALED_RECIPE, "--warmup-prefix")
    assert prefixed.exit_code == 0, prefixed.stdout


# -- torch files record no unit: read them in epochs -------------------------------

CHECKPOINTS = Path(__file__).resolve().parents[1] / "data" / "checkpoints"


def test_a_torch_state_stepped_per_epoch_is_read_as_epochs(
    run: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Named from its folder, as typed: a long or spaced clone path would wrap the file line.
    monkeypatch.chdir(CHECKPOINTS)
    steplr = "steplr_state.json"
    result = run("inspect", steplr, "--mode", "epoch")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[2:6] == [
        "schedule    lr=0.1, step_size=30, gamma=0.1, mode=epoch",
        "position    epoch 45",
        "lr          0.01",
        "next decay  epoch 60 (in 15): lr 0.001",
    ]
    record = json.loads(run("inspect", steplr, "--mode", "epoch", "--json").stdout)
    assert (record["step"], record["mode"], record["next_boundary"]) == (45, "epoch", 60)
    native = tmp_path / "run.json"
    converted = run("convert", steplr, "--mode", "epoch", "-o", str(native))
    assert converted.stderr == f"wrote {native}: epoch mode, at epoch 45\n"
    state = json.loads(native.read_text())
    assert (state["mode"], state["step"], state["step_size"]) == ("epoch", 45, 30)
    timm = tmp_path / "timm.json"
    written = run("convert", str(native), "--to", "timm", "-o", str(timm))
    assert written.stderr == (
        f"wrote {timm}: timm schedule counting epochs, no position (the state is at epoch 45)\n"
    )
    assert json.loads(timm.read_text())["t_in_epochs"] is True


def test_a_file_that_records_its_unit_refuses_mode_on_inspect(run: Invoke, tmp_path: Path) -> None:
    native = tmp_path / "run.json"
    assert run("init", "--lr", "0.1", "-o", str(native)).exit_code == 0
    result = run("inspect", str(native), "--mode", "epoch")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"stepsched: error: Invalid value for '--mode': {native} records its own unit "
        "(stepsched format, steps): the unit it is read in is for files that record none"
    )


def test_the_recipe_is_one_plot_file_and_one_snippet(run: Invoke, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "recipe.png"
    result = run("plot", *RECIPE, "--epochs", "90", "--x", "epochs", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"wrote {target}: lr=0.1, milestones=150150,300300,400400, gamma=0.1, "
        "warmup_steps=25025, warmup_start_lr=0.01, epochs 0-89 (steps 0-450449) (png, log lr "
        # 1,600 samples of the warmup's ramp, plus the three decays at their exact steps.
        "axis, sampled at 1603 positions)\n"
    )
    snippet = run("code", "--framework", "timm", *RECIPE)
    assert snippet.exit_code == 0, snippet.stderr
    # timm decays one position before each decay_t entry: the milestones plus one.
    assert (
        "scheduler = MultiStepLRScheduler(optimizer, decay_t=[150151, 300301, 400401], "
        "decay_rate=0.1, warmup_t=25025, warmup_lr_init=0.01, warmup_prefix=False, "
        "t_in_epochs=False)"
    ) in snippet.stdout.splitlines()


@pytest.mark.parametrize(
    ("options", "span"),
    [
        # The x axis the picture drew comes first, the schedule's own positions after it.
        (["--mode", "epoch", "--epochs", "90", "--x", "steps"], "steps 0-450449 (epochs 0-89)"),
        (["--mode", "epoch", "--epochs", "90"], "epochs 0-89"),
        (["--mode", "epoch", "--epochs", "90", "--x", "epoch"], "epochs 0-89"),
        (["--epochs", "90", "--x", "epochs"], "epochs 0-89 (steps 0-450449)"),
        (["--total", "450451", "--x", "epochs"], "epochs 0-90 (steps 0-450450)"),
        (["--total", "5e5", "--x", "steps"], "steps 0-499999"),
    ],
)
def test_plot_file_names_the_axis_it_drew(
    run: Invoke, tmp_path: Path, options: list[str], span: str
) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "lr.svg"
    result = run(
        "plot", "--milestones", "30ep,60ep,80ep", "--steps-per-epoch", "5005", *options,
        "-o", str(target),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    described = "lr=0.1, milestones=150150,300300,400400, gamma=0.1"
    if "--mode" in options:
        described = "lr=0.1, milestones=30,60,80, gamma=0.1, mode=epoch"
    assert result.stderr.startswith(f"wrote {target}: {described}, {span} (svg, ")


# -- --position in either unit, for documents that record none ------------------------


def _documents(tmp_path: Path) -> dict[str, Path]:
    """One document per framework, each counting what its framework counts."""
    from stepsched_cli.formats.frameworks.keras import schedule as keras
    from stepsched_cli.formats.frameworks.optax import schedule as optax
    from stepsched_cli.formats.frameworks.timm import schedule as timm

    in_steps = StepSchedule(0.1, milestones=(150150, 300300))
    documents = {
        "keras": keras.from_schedule(in_steps),
        "optax": optax.from_schedule(in_steps, None),
        "timm-updates": timm.from_schedule(in_steps),
        "timm-epochs": timm.from_schedule(StepSchedule(0.1, milestones=(30, 60), mode="epoch")),
    }
    paths = {}
    for name, document in documents.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(document))
    return paths


SPE = ["--steps-per-epoch", "5005"]


@pytest.mark.parametrize(
    ("document", "options", "expected"),
    [
        # A bare number counts what the document counts, as before.
        ("keras", ["--position", "150150"], ("step", 150150, None, 0.01)),
        ("keras", ["--position", "150150st"], ("step", 150150, None, 0.01)),
        ("keras", ["--position", "30ep", *SPE], ("step", 150150, 5005, 0.01)),
        ("keras", ["--position", "60ep", *SPE], ("step", 300300, 5005, 0.001)),
        ("optax", ["--position", "29ep", *SPE], ("step", 145145, 5005, 0.1)),
        ("timm-epochs", ["--position", "30"], ("epoch", 30, None, 0.01)),
        ("timm-epochs", ["--position", "150150st", *SPE], ("epoch", 30, 5005, 0.01)),
        # timm stepped per update: its updates per epoch are the steps per epoch.
        (
            "timm-updates",
            ["--position", "30ep", "--updates-per-epoch", "5005"],
            ("step", 150150, 5005, 0.01),
        ),
        ("timm-updates", ["--position", "30ep", *SPE], ("step", 150150, 5005, 0.01)),
    ],
)  # fmt: skip
def test_position_is_read_in_either_unit(
    run: Invoke,
    tmp_path: Path,
    document: str,
    options: list[str],
    expected: tuple[str, int, int | None, float],
) -> None:
    path = _documents(tmp_path)[document]
    result = run("inspect", str(path), *options, "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    record = json.loads(result.stdout)
    assert (record["mode"], record["step"], record["steps_per_epoch"], record["lr"]) == expected


def test_position_in_epochs_shows_both_units(run: Invoke, tmp_path: Path) -> None:
    path = _documents(tmp_path)["keras"]
    result = run("inspect", str(path), "--position", "30ep", "--steps-per-epoch", "5005")
    assert result.exit_code == 0, result.stderr
    assert "position    step 150150 (epoch 30, step 0 of 5005)\nlr          0.01\n" in result.stdout


@pytest.mark.parametrize(
    ("document", "options", "message"),
    [
        (
            "keras",
            ["--position", "30ep"],
            "position 30ep counts epochs and the schedule counts steps: converting needs the "
            "steps per epoch; give --steps-per-epoch",
        ),
        (
            "timm-epochs",
            ["--position", "150150st"],
            "position 150150st counts steps and the schedule counts epochs: converting needs "
            "the steps per epoch; give --steps-per-epoch",
        ),
        (
            "timm-epochs",
            ["--position", "150151st", "--steps-per-epoch", "5005"],
            "position 150151st is not a whole number of epochs (5005 steps each): the nearest "
            "whole values are 30ep (150150st) and 31ep (155155st)",
        ),
        (
            "keras",
            ["--position", "1.5ep", "--steps-per-epoch", "5005"],
            "position must be a whole number of epochs, got '1.5ep'",
        ),
        ("keras", ["--position", "-1ep"], "-1ep is not in the range 0<=x<=9223372036854775807."),
        (
            "keras",
            ["--position", "30days"],
            "position must be a whole number, optionally with a unit (30, 30ep for epochs, "
            "150150st for steps), got '30days'",
        ),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_position_that_cannot_be_placed_is_a_usage_error(
    run: Invoke, tmp_path: Path, command: str, document: str, options: list[str], message: str
) -> None:
    path = _documents(tmp_path)[document]
    target = tmp_path / "out.json"
    output = ["-o", str(target)] if command == "convert" else []
    result = run(command, str(path), *options, *output)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"stepsched: error: Invalid value for '--position': {message} "
        f"(see 'stepsched {command} --help')\n"
    )
    assert not target.exists()


def test_convert_reads_the_position_with_its_own_steps_per_epoch(
    run: Invoke, tmp_path: Path
) -> None:
    path = _documents(tmp_path)["keras"]
    target = tmp_path / "run.json"
    args = ["--position", "30ep", "--steps-per-epoch", "5005", "-o", str(target)]
    result = run("convert", str(path), *args)
    assert result.exit_code == 0, result.stderr
    assert (
        result.stderr == f"wrote {target}: step mode, at step 150150 (epoch 30, step 0 of 5005)\n"
    )
    state = json.loads(target.read_text())
    assert (state["step"], state["lr"], state["steps_per_epoch"]) == (150150, 0.01, 5005)


@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_steps_per_epoch_for_a_position_is_refused_by_a_file_that_records_one(
    run: Invoke, tmp_path: Path, command: str
) -> None:
    native = tmp_path / "run.json"
    assert run("init", "--step-size", "3", "-o", str(native)).exit_code == 0
    target = tmp_path / "out.json"
    output = ["-o", str(target)] if command == "convert" else []
    result = run(command, str(native), "--position", "3ep", "--steps-per-epoch", "3", *output)
    assert result.exit_code == 2
    assert result.stderr == (
        f"stepsched: error: Invalid value for '--position': {native} records its own position "
        f"(stepsched format); --position is for {', '.join(unpositioned_formats())} documents "
        f"(see 'stepsched {command} --help')\n"
    )
    if command == "inspect":
        alone = run("inspect", str(native), "--steps-per-epoch", "3")
        assert alone.stderr == (
            "stepsched: error: Invalid value for '--steps-per-epoch': applies to documents that "
            f"record no position; {native} is a stepsched file (see 'stepsched inspect --help')\n"
        )
