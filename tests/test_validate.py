"""The shared field validators: one rule per kind of field, for the core and every format."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepsched_cli import validate
from stepsched_cli.errors import ScheduleError, StateError, StepschedError
from stepsched_cli.formats.frameworks.keras import schedule as keras
from stepsched_cli.formats.frameworks.optax import schedule as optax
from stepsched_cli.formats.frameworks.timm import schedule as timm
from stepsched_cli.formats.torch import state_dict as torch_format
from stepsched_cli.schedule import StepSchedule
from stepsched_cli.scheduler import SchedulerState


@pytest.mark.parametrize(
    ("value", "minimum", "message"),
    [
        (0, 1, "step_size must be an integer >= 1, got 0"),
        (True, 0, "step_size must be an integer >= 0, got True"),
        (2.0, 0, "step_size must be an integer >= 0, got 2.0"),
        ("30", 0, "step_size must be an integer >= 0, got '30'"),
        (10**40, 0, "step_size must be an integer below 10**40, got an integer of 133 bits"),
        (-(10**400), 0, "step_size must be an integer >= 0, got a negative integer of 1329 bits"),
    ],
)
def test_integer_refusals_name_the_field_value_and_range(
    value: object, minimum: int, message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        validate.integer(value, "step_size", minimum=minimum, error=ScheduleError)
    assert str(caught.value) == message
    assert caught.value.parameter == "step_size"


def test_integer_without_a_limit_accepts_any_size_and_the_limit_is_exclusive() -> None:
    assert validate.integer(10**100, "t", limit=None) == 10**100
    assert validate.integer(10**40 - 1, "t") == 10**40 - 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "field 'gamma' must be a number, got True"),
        (None, "field 'gamma' must be a number, got None"),
        (math.inf, "field 'gamma' must be a finite number, got inf"),
        (math.nan, "field 'gamma' must be a finite number, got nan"),
        (
            10**400,
            "field 'gamma' must be a finite number, got 10000000000000000000... "
            "(an integer of 401 digits)",
        ),
        pytest.param(
            10**5000,
            "field 'gamma' must be a finite number, got an integer of 16610 bits",
            id="5001-digits",
        ),
    ],
)
def test_finite_number_refuses_types_non_finite_values_and_overflowing_ints(
    value: object, message: str
) -> None:
    with pytest.raises(StateError) as caught:
        validate.finite_number(
            value, "field 'gamma'", expected="a number", error=StateError, parameter="gamma"
        )
    assert str(caught.value) == message
    assert caught.value.field == "gamma"


def test_labels_that_are_not_identifiers_carry_no_parameter_unless_given() -> None:
    with pytest.raises(StepschedError) as caught:
        validate.boolean(1, "field 'started'")
    assert (str(caught.value), caught.value.parameter) == (
        "field 'started' must be true or false, got 1",
        None,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", 30),
        (" -7 ", -7),
        ("+5", 5),
        ("3_0", None),
        ("٣٠", None),  # Arabic-Indic digits: int() would read 30
        ("\uff13\uff10", None),  # full-width digits
        ("1" * 40, int("1" * 40)),
        ("1" * 41, None),
        ("30.0", None),
        ("", None),
    ],
)
def test_integer_text_reads_ascii_decimal_only(text: str, expected: int | None) -> None:
    assert validate.integer_text(text) == expected


@given(st.integers(-(10**39), 10**39))
def test_integer_text_round_trips_every_accepted_integer(value: int) -> None:
    assert validate.integer_text(str(value)) == value


@given(st.one_of(st.integers(), st.floats(), st.text(), st.lists(st.integers())))
def test_shown_is_bounded(value: object) -> None:
    # 60 characters of the value, then, when cut, its type and size.
    assert len(validate.shown(value)) <= 100


@pytest.mark.parametrize(
    ("depth", "expected"),
    [(2, "[[[], []], [[], []]]"), (40, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]")],
)
def test_shown_never_builds_a_whole_repr(depth: int, expected: str) -> None:
    """Issue 12 item 3: a list sharing one child at every level has a repr of 2**depth."""
    shared: list[object] = []
    for _ in range(depth):
        shared = [shared, shared]
    assert validate.shown(shared).startswith(expected)


@pytest.mark.parametrize(
    ("stored", "expected", "agree"),
    [
        (0.0010000000000000002, 0.001, True),  # torch's drift: a few ulps
        (0.001 * (1 + 2e-9), 0.001, False),
        (5e-310, 1e-309, True),  # deep subnormals: both effectively 0
        (1e-299, 2e-299, False),
        (0.0, 0.0, True),
    ],
)
def test_lrs_agree_is_relative_above_the_subnormals(
    stored: float, expected: float, agree: bool
) -> None:
    assert validate.lrs_agree(stored, expected) is agree


# A document field holding 10**400 used to escape as a bare OverflowError from the
# framework readers (their number helper lacked the guard).
@pytest.mark.parametrize(
    ("parse", "document", "message"),
    [
        (
            timm.parse,
            {"timm": "StepLRScheduler", "lr": 10**400, "decay_t": 30, "decay_rate": 0.1},
            "lr must be a finite number, got 10000000000000000000... (an integer of 401 digits)",
        ),
        (
            optax.parse,
            {
                "optax": "exponential_decay",
                "init_value": 10**400,
                "transition_steps": 30,
                "decay_rate": 0.1,
                "staircase": True,
            },
            "init_value must be a finite number, got 10000000000000000000...",
        ),
        (
            keras.parse,
            {
                "class_name": "ExponentialDecay",
                "config": {
                    "initial_learning_rate": 0.1,
                    "decay_steps": 30,
                    "decay_rate": 10**400,
                    "staircase": True,
                },
            },
            "decay_rate must be a finite number, got 10000000000000000000...",
        ),
    ],
)
def test_framework_fields_too_large_for_a_float_are_state_errors(
    parse: Callable[[object], object], document: dict[str, object], message: str
) -> None:
    with pytest.raises(StateError) as caught:
        parse(document)
    assert str(caught.value).startswith(message)


def test_a_torch_milestone_key_in_other_digits_is_refused() -> None:
    document = {"milestones": {"٣٠": 1}, "gamma": 0.1, "base_lrs": [0.1], "last_epoch": 0}
    with pytest.raises(StateError) as caught:
        torch_format.parse(document)
    assert str(caught.value) == "field 'milestones' must have integer keys >= 0, got '٣٠'"
    assert caught.value.field == "milestones"


# -- errors carry their parameter ---------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"step_size": 0}, "step_size"),
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": math.nan}, "gamma"),
        ({"initial_lr": 0.0}, "initial_lr"),
        ({"initial_lr": 10**400}, "initial_lr"),
        ({"milestones": [30, 20]}, "milestones"),
        ({"milestones": [0]}, "milestones"),
        ({"milestones": []}, "milestones"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"warmup_start_lr": -0.1}, "warmup_start_lr"),
        ({"min_lr": 0.5}, "min_lr"),
        ({"mode": "batch"}, "mode"),
        ({"milestones": [30], "step_size": 10}, None),
    ],
)
def test_schedule_errors_carry_the_parameter_they_are_about(
    kwargs: dict[str, object], parameter: str | None
) -> None:
    arguments: dict[str, Any] = {"initial_lr": 0.1, **kwargs}
    with pytest.raises(ScheduleError) as caught:
        StepSchedule(**arguments)
    assert caught.value.parameter == parameter


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        ({"step": -1}, "step"),
        ({"gamma": "x"}, "gamma"),
        ({"lr": 10**400}, "lr"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ],
)
def test_state_errors_carry_the_field_they_are_about(
    mutation: dict[str, object], field: str
) -> None:
    document = {**SchedulerState(StepSchedule(0.1, 30)).to_dict(), **mutation}
    with pytest.raises(StateError) as caught:
        SchedulerState.from_dict(document)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({(1,): 0, "a": 1}, "a state's keys must be strings, got (1,)"),
        ({1: 0, 2: 0, 3: 0, 4: 0, 5: 0}, "a state's keys must be strings, got 1, 2, 3 and 2 more"),
        ({b"lr": 0.1}, "a state's keys must be strings, got b'lr'"),
    ],
)
def test_string_keys_refuses_other_keys_naming_a_few(
    mapping: dict[object, object], message: str
) -> None:
    with pytest.raises(StateError) as raised:
        validate.string_keys(mapping, "a state", error=StateError)
    assert str(raised.value) == message


def test_string_keys_accepts_a_mapping_of_names() -> None:
    validate.string_keys({"lr": 0.1, "": 1}, "a state")


def test_a_pickled_state_with_a_key_of_another_type_is_a_state_error() -> None:
    from stepsched_cli.scheduler_state import SchedulerState

    with pytest.raises(StateError, match=r"^a state's keys must be strings, got \(1, 2\)$"):
        SchedulerState.from_dict({"format": "stepsched.state", (1, 2): 3})
