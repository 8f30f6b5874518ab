"""timm, Keras and optax files written by the real libraries, read as their framework means them.

Every expected value comes from the manifests under tests/data/real (what the library
itself reported when it wrote the file), never from stepsched.  The framework's own lr
(``framework_lr``) must equal the reported value exactly; stepsched's exact lr, where
the schedule converts, must agree to the framework's precision.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats import registry
from stepsched_cli.formats.frameworks.keras import files as keras_files
from stepsched_cli.formats.frameworks.optax import schedule as optax
from stepsched_cli.formats.frameworks.timm import files as timm_files
from stepsched_cli.formats.hints import Hints

REAL = Path(__file__).resolve().parents[2] / "data" / "real"


def files(framework: str, suffixes: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    manifest = json.loads((REAL / framework / "manifest.json").read_text())
    return [
        (relative, entry["reported"])
        for relative, entry in sorted(manifest["files"].items())
        if relative.endswith(suffixes)
    ]


def in_noise(reported: dict[str, Any], t: int) -> bool:
    noise = reported["kwargs"].get("noise_range_t")
    return noise is not None and noise[0] <= t < noise[1]


# -- timm ------------------------------------------------------------------------

TIMM_STATES = files("timm", (".json",))
TIMM_STATES = [(name, values) for name, values in TIMM_STATES if name.startswith("state/")]


@pytest.mark.parametrize(("relative", "values"), TIMM_STATES, ids=[n for n, _ in TIMM_STATES])
def test_timm_state_dicts_give_timms_lr_at_every_reported_position(
    relative: str, values: dict[str, Any]
) -> None:
    path = str(REAL / "timm" / relative)
    checked = 0
    for t, lr in values["lr_at"].items():
        if in_noise(values, int(t)):
            continue
        reading = registry.read_state(path, hints=Hints(position=int(t)))
        assert reading.format == "timm"
        assert reading.view.framework_lr == lr, t
        if reading.state is not None:
            assert math.isclose(reading.view.lrs[0], lr, rel_tol=1e-12), t
        checked += 1
    assert checked >= 5
    unit = "epoch" if values["t_in_epochs"] else "step"
    assert registry.read_state(path).view.unit == unit


@pytest.mark.parametrize(
    ("relative", "convertible"),
    [
        ("state/step_plain.json", True),
        ("state/step_warmup_prefix.json", True),
        ("state/multistep_warmup_prefix.json", True),
        # timm's warmup_prefix=False is stepsched's default: decays at their positions.
        ("state/step_warmup_no_prefix.json", True),
        ("state/multistep_warmup_no_prefix.json", True),
        ("state/step_noise.json", False),
    ],
)
def test_timm_states_convert_only_when_stepsched_can_say_the_same(
    relative: str, convertible: bool
) -> None:
    reading = registry.read_state(str(REAL / "timm" / relative))
    assert (reading.state is not None) is convertible


def test_timm_noise_is_noted() -> None:
    reading = registry.read_state(str(REAL / "timm" / "state" / "step_noise.json"))
    assert reading.view.notes == (
        "timm multiplies the lr by random noise for 10 <= t < 60 (torch.Generator seeded "
        "with noise_seed + t), which stepsched cannot reproduce: the lrs shown are without it",
    )


TRAIN_ARGS = [
    f"{run}/{name}"
    for run in ("train_step", "train_step_noise")
    for name in ("args.yaml", "args.json")
]


@pytest.mark.parametrize("relative", TRAIN_ARGS)
def test_timm_train_args_give_the_lr_train_py_applied_each_epoch(relative: str) -> None:
    values = files("timm", (relative,))[0][1]
    path = str(REAL / "timm" / relative)
    noise = "noise" in relative
    for epoch, lr in enumerate(values["lr_during_epoch"]):
        reading = registry.read_state(path, hints=Hints(position=epoch))
        assert reading.format == "timm"
        if noise and 2 <= epoch < 4:  # --lr-noise 0.4 0.8 of 5 epochs
            assert reading.view.notes[0].startswith(
                "timm multiplies the lr by random noise for 2.0"
            )
            continue
        assert reading.view.framework_lr == lr, epoch


@pytest.mark.parametrize("name", ["args.yaml", "args.json", "scheduler_kwargs.json"])
def test_timm_per_update_args_need_the_updates_per_epoch(name: str) -> None:
    run = REAL / "timm" / "train_multistep_updates"
    values = files("timm", (f"train_multistep_updates/{name}",))[0][1]
    if name == "args.yaml":
        import yaml

        args = yaml.safe_load((run / name).read_text())
    else:
        args = json.loads((run / name).read_text())
    args.setdefault("lr", 0.2)  # scheduler_kwargs() holds no lr: train.py's --lr 0.2
    schedule = timm_files.schedule_from_args(args, updates_per_epoch=values["updates_per_epoch"])
    assert not schedule.t_in_epochs
    assert [schedule.lr_at(u) for u in range(len(values["lr_during_update"]))] == values[
        "lr_during_update"
    ]
    with pytest.raises(StateError) as raised:
        timm_files.schedule_from_args(args)
    assert str(raised.value) == (
        "sched_on_updates is true: timm multiplies every epoch count by the loader's updates "
        "per epoch (len(loader_train) // grad_accum_steps), which train.py's args do not "
        "record; give it (--updates-per-epoch N)"
    )
    assert raised.value.parameter == "updates_per_epoch"


@pytest.mark.parametrize("name", ["args.yaml", "args.json", "scheduler_kwargs.json"])
def test_timm_per_update_args_read_with_the_updates_per_epoch_given(name: str) -> None:
    """As a command reads them: --updates-per-epoch 4, and --lr 0.2 where no lr is held."""
    values = files("timm", (f"train_multistep_updates/{name}",))[0][1]
    path = str(REAL / "timm" / "train_multistep_updates" / name)
    lr = 0.2 if name == "scheduler_kwargs.json" else None
    lrs = values["lr_during_update"]
    for update, expected in enumerate(lrs):
        reading = registry.read_state(
            path, hints=Hints(position=update, updates_per_epoch=4, lr=lr)
        )
        assert reading.view.unit == "step"
        assert reading.view.framework_lr == expected, update
        assert reading.view.lrs[0] == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"updates_per_epoch": 5}, "the file records updates_per_epoch 4, but "
         "--updates-per-epoch gives 5"),
        ({"lr": 0.3}, "the file records lr 0.1, but --lr gives 0.3"),
    ],
)  # fmt: skip
def test_what_is_given_must_agree_with_what_the_args_record(
    given: dict[str, Any], message: str
) -> None:
    args = {**ARGS, "sched_on_updates": True, "updates_per_epoch": 4}
    with pytest.raises(StateError) as raised:
        timm_files.schedule_from_args(args, given.get("updates_per_epoch"), lr=given.get("lr"))
    assert str(raised.value) == message
    assert raised.value.parameter == next(iter(given))


def test_scheduler_kwargs_without_lr_say_where_the_lr_is() -> None:
    path = str(REAL / "timm" / "train_step" / "scheduler_kwargs.json")
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    assert str(raised.value) == (
        f"{path}: timm args hold no lr ('lr' is null or absent: train.py then derives it "
        "from lr_base and the batch size, scheduler_kwargs() never holds it; the optimizer "
        "does); give the optimizer's lr (--lr LR)"
    )
    assert raised.value.parameter == "lr"


@pytest.mark.parametrize(
    ("epoch", "per_update", "expected"), [(4, False, 5), (2, True, 12), (0, False, 1)]
)
def test_timm_resumes_after_the_saved_epoch(epoch: int, per_update: bool, expected: int) -> None:
    args = {"sched": "step", "lr": 0.1, "decay_epochs": 2, "sched_on_updates": per_update}
    schedule = timm_files.schedule_from_args(args, updates_per_epoch=4)
    assert timm_files.resume_position(epoch, schedule, 4 if per_update else None) == expected


# -- optax -----------------------------------------------------------------------

OPTAX = files("optax", (".json",))


@pytest.mark.parametrize(("relative", "values"), OPTAX, ids=[n for n, _ in OPTAX])
@pytest.mark.parametrize("forced", [None, "optax"])
def test_optax_bare_kwargs_give_optax_values(
    relative: str, values: dict[str, Any], forced: str | None
) -> None:
    path = str(REAL / "optax" / relative)
    for count, lr in values["lr_at"].items():
        reading = registry.read_state(path, format=forced, hints=Hints(position=int(count)))
        assert reading.format == "optax"
        assert reading.view.framework_lr == lr, count


# -- Keras -----------------------------------------------------------------------

KERAS_JSON = files("keras", ("_config.json", "_serialize.json"))
KERAS_SCHEDULED = [(name, values) for name, values in KERAS_JSON if values["schedule"]]


@pytest.mark.parametrize(
    ("relative", "values"), KERAS_SCHEDULED, ids=[n for n, _ in KERAS_SCHEDULED]
)
def test_keras_configs_give_keras_values(relative: str, values: dict[str, Any]) -> None:
    path = str(REAL / "keras" / relative)
    for step, lr in values["lr_at"].items():
        reading = registry.read_state(path, hints=Hints(position=int(step)))
        assert reading.format == "keras"
        assert reading.view.framework_lr == lr, step
    reading = registry.read_state(path, hints=Hints(position=values["iterations"]))
    assert reading.view.framework_lr == values["lr"]
    assert reading.view.notes[-1] == keras_files.CONFIG_POSITION_NOTE


@pytest.mark.parametrize(
    "relative", [name for name, values in KERAS_JSON if not values["schedule"]]
)
def test_a_keras_optimizer_without_a_schedule_is_refused_with_its_reason(relative: str) -> None:
    path = str(REAL / "keras" / relative)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(path)
    assert str(raised.value) == (
        f"{path}: the optimizer's learning_rate is the plain number 0.009999999776482582: a "
        "constant lr, not a schedule (Keras keeps it in the optimizer's variables); "
        "stepsched reads ExponentialDecay and PiecewiseConstantDecay"
    )


KERAS_MODELS = [
    (name, values) for name, values in files("keras", (".keras",)) if values["schedule"]
]


@pytest.mark.parametrize(("relative", "values"), KERAS_MODELS, ids=[n for n, _ in KERAS_MODELS])
def test_keras_model_files_are_read_at_the_optimizers_iterations(
    relative: str, values: dict[str, Any]
) -> None:
    pytest.importorskip("h5py")
    reading = registry.read_state(str(REAL / "keras" / relative))
    assert (reading.format, reading.records_position) == ("keras-model", True)
    assert reading.view.position == values["iterations"]
    assert reading.view.framework_lr == values["lr"]


@pytest.mark.parametrize(("relative", "values"), KERAS_MODELS, ids=[n for n, _ in KERAS_MODELS])
def test_without_h5py_a_keras_model_is_read_at_position_with_a_note(
    relative: str, values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py raises ImportError
    reading = registry.read_state(
        str(REAL / "keras" / relative), hints=Hints(position=values["iterations"])
    )
    assert (reading.format, reading.records_position) == ("keras-model", False)
    assert reading.view.framework_lr == values["lr"]
    assert reading.view.notes[-1] == (
        "h5py is not installed (pip install 'stepsched[keras]'): " + keras_files.POSITION_NOTE
    )


def test_a_zip_without_config_json_is_refused_in_keras_terms(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(path))
    assert str(raised.value) == f"{path}: a .keras zip needs config.json (members: 'metadata.json')"


STATE = {"base_values": [0.1], "decay_t": 30, "decay_rate": 0.1, "warmup_t": 0}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            {**STATE, "t_initial": 100},
            "timm state has key(s) of a scheduler other than StepLRScheduler/"
            "MultiStepLRScheduler: t_initial",
        ),
        ({**STATE, "base_values": []}, "base_values must be a list of lrs, got []"),
        (
            {**STATE, "base_values": [0.1, 0.2]},
            "base_values [0.1, 0.2] give the parameter groups different lrs; stepsched reads "
            "a timm schedule of groups that share one",
        ),
    ],
)
def test_timm_state_refusals(state: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError) as raised:
        timm_files.schedule_from_state(state)
    assert str(raised.value) == message


ARGS = {"sched": "step", "lr": 0.1, "decay_epochs": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {**ARGS, "sched": "cosine"},
            "timm sched 'cosine' is not a step schedule; stepsched reads sched step and multistep",
        ),
        (
            {**ARGS, "sched": "multistep", "decay_milestones": 3},
            "decay_milestones must be a list of epochs, got 3",
        ),
        ({**ARGS, "warmup_epochs": -1}, "warmup_epochs must be a number >= 0, got -1"),
        (
            {**ARGS, "sched_on_updates": True, "updates_per_epoch": 0},
            "updates_per_epoch must be an integer >= 1, got 0",
        ),
    ],
)
def test_timm_args_refusals(args: dict[str, Any], message: str) -> None:
    with pytest.raises(StateError) as raised:
        timm_files.schedule_from_args(args)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("noise", "expected"), [(0.5, 150.0), ([0.5], 150.0), ([0.2, 0.4], (60.0, 120.0))]
)
def test_timm_lr_noise_is_a_fraction_of_the_epochs(noise: object, expected: object) -> None:
    args = {**ARGS, "epochs": 300, "lr_noise": noise}
    assert timm_files.schedule_from_args(args).noise_range_t == expected


def test_a_document_of_no_timm_shape_says_which_shapes_exist() -> None:
    with pytest.raises(StateError) as raised:
        timm_files.parse({"decay_t": 30})
    assert str(raised.value) == (
        "a timm document is a scheduler's state_dict() (base_values, decay_t, decay_rate, "
        "warmup_t, ...), train.py's args (sched, decay_epochs, ...) or a "
        '{"timm": "StepLRScheduler", ...} document; got keys decay_t'
    )


def test_per_update_resume_needs_the_updates_per_epoch() -> None:
    schedule = timm_files.schedule_from_args(
        {**ARGS, "updates_per_epoch": 4, "sched_on_updates": True}
    )
    with pytest.raises(StateError) as raised:
        timm_files.resume_position(3, schedule, None)
    assert str(raised.value) == (
        "this timm schedule steps per update: the resume position is (epoch + 1) x updates "
        "per epoch, which the checkpoint does not record; give it (--updates-per-epoch N)"
    )


def test_invalid_yaml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "args.yaml"
    path.write_text("sched: [step\n")
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(path))
    assert str(raised.value).startswith(f"{path}: is not valid YAML: ")
    assert "\n" not in str(raised.value)


def test_a_keras_zip_forced_as_json_says_how_to_read_it(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    with pytest.raises(StateFileError) as raised:
        registry.read_state(str(path), format="keras")
    assert str(raised.value) == (
        f"{path}: is a zip; a .keras model file is read from its file as --from keras-model"
    )


@given(
    init_value=st.floats(1e-6, 10.0),
    transition_steps=st.integers(1, 10**6),
    decay_rate=st.floats(0.01, 0.99),
    staircase=st.booleans(),
    extra=st.sampled_from([{}, {"transition_begin": 7}, {"end_value": 1e-7}]),
)
def test_bare_optax_kwargs_mean_what_the_marked_document_means(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    staircase: bool,
    extra: dict[str, Any],
) -> None:
    bare = {
        "init_value": init_value,
        "transition_steps": transition_steps,
        "decay_rate": decay_rate,
        "staircase": staircase,
        **extra,
    }
    assert optax.detect(bare)
    schedule = optax.parse(bare)
    assert schedule == optax.parse({"optax": "exponential_decay", **bare})
    assert not optax.detect({**bare, "boundaries_and_scales": {}})  # a mix is neither


STARTUP = """
import sys
from stepsched_cli.cli.app import app
try:
    app(["inspect", sys.argv[1]], prog_name="stepsched")
except SystemExit:
    pass
lazy = (
    "stepsched_cli.formats.frameworks.timm.files",
    "stepsched_cli.formats.frameworks.keras.files",
    "yaml",
    "h5py",
)
print(sorted(name for name in lazy if name in sys.modules), file=sys.stderr)
"""


def test_inspecting_a_state_file_imports_no_framework_file_reader(tmp_path: Path) -> None:
    import subprocess

    from stepsched_cli.schedule import StepSchedule
    from stepsched_cli.scheduler import SchedulerState
    from stepsched_cli.state import dumps_state

    path = tmp_path / "run.json"
    path.write_bytes(dumps_state(SchedulerState(StepSchedule(0.1, 30))))
    result = subprocess.run(
        [sys.executable, "-c", STARTUP, str(path)], capture_output=True, text=True, check=True
    )
    assert result.stderr.strip().splitlines()[-1] == "[]"
