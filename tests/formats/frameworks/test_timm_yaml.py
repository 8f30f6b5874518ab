"""Hostile ``args.yaml`` files and timm states: one-line refusals, bounded work.

YAML aliases make a list of 2**40 paths in 1 KB (the "billion laughs" shape); PyYAML
builds it as shared references, so only what is done with it afterwards costs: a
comparison or a repr that walks every path never ends.
"""

from __future__ import annotations

import pytest
import yaml

from stepsched_cli.errors import StateError, StateFileError
from stepsched_cli.formats.frameworks.timm import files as timm_files
from stepsched_cli.formats.frameworks.timm.files import MAX_YAML_BYTES, load_document


def _dag(anchor: str, depth: int = 40) -> str:
    levels = [f"&{anchor}0 [x, x]"]
    levels += [f"&{anchor}{i} [*{anchor}{i - 1}, *{anchor}{i - 1}]" for i in range(1, depth)]
    return "[" + ", ".join(levels) + "]"


def _state(base_values: str) -> bytes:
    return f"base_values: {base_values}\ndecay_t: 3\ndecay_rate: 0.1\nwarmup_t: 0\n".encode()


@pytest.mark.parametrize("libyaml", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"lr: " + b"[" * 5_000 + b"]" * 5_000, "a.yaml: is not valid YAML: "),
        (b"epochs: " + b"9" * 5_000, "a.yaml: is not valid YAML: a value is refused: Exceeds"),
        (b"decay_epochs: 2001-13-45", "a.yaml: is not valid YAML: a value is refused: month"),
        (
            b"a: 1\n" * (MAX_YAML_BYTES // 5 + 1),
            "a.yaml: is 65540 bytes of YAML; a timm args.yaml is at most 65536 bytes "
            "(train.py writes about 3 KB)",
        ),
    ],
    ids=["deep", "long-integer", "month-13", "too-large"],
)
def test_hostile_yaml_is_refused_in_one_line(
    data: bytes, message: str, libyaml: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not libyaml:
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    with pytest.raises(StateFileError) as raised:
        load_document(data, "a.yaml")
    assert str(raised.value).startswith(message)
    assert len(str(raised.value)) < 200


def test_without_libyaml_deep_nesting_is_refused_by_its_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    with pytest.raises(StateFileError) as raised:
        load_document(b"lr: " + b"[" * 5_000 + b"]" * 5_000, "a.yaml")
    assert str(raised.value) == "a.yaml: is not valid YAML: it nests too deeply"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _state(f"[{_dag('b')}, {_dag('c')}]"),
            "base_values[0] must be a finite number, got [['x', 'x'], [['x', 'x'], ['x', 'x']], "
            "[[['x', 'x'], ['x', '... (list of 40 items)",
        ),
        (
            _state(f"[0.1, {_dag('b')}]"),
            "base_values[1] must be a finite number, got [['x', 'x'], [['x', 'x'], ['x', 'x']], "
            "[[['x', 'x'], ['x', '... (list of 40 items)",
        ),
        (
            f"sched: {_dag('b', 3)}\ndecay_epochs: 3\nlr: 0.1\n".encode(),
            "timm sched [['x', 'x'], [['x', 'x'], ['x', 'x']], [[['x', 'x'], ['x', '... (list "
            "of 3 items) is not a step schedule; stepsched reads sched step and multistep",
        ),
        (
            b"sched: {a: 1}\ndecay_epochs: 3\nlr: 0.1\n",
            "timm sched {'a': 1} is not a step schedule; stepsched reads sched step and multistep",
        ),
    ],
    ids=["compare-bomb", "repr-bomb", "list-sched", "dict-sched"],
)
def test_alias_bombs_are_refused_without_walking_them(data: bytes, message: str) -> None:
    with pytest.raises(StateError) as raised:
        timm_files.parse(load_document(data, "a.yaml"))
    assert str(raised.value) == message


LONG_KEY = "k" * 900_000
CUT_KEY = (
    "'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk... (str of 900000 characters)"
)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {LONG_KEY: 1, "epoch": 2},
            f"a timm document is a scheduler's state_dict() (base_values, decay_t, decay_rate, "
            f"warmup_t, ...), train.py's args (sched, decay_epochs, ...) or a "
            f'{{"timm": "StepLRScheduler", ...}} document; got keys epoch, {CUT_KEY}',
        ),
        (
            {"base_values": [0.1], "decay_t": 3, "decay_rate": 0.1, "warmup_t": 0}
            | {f"k{i:05}": i for i in range(70_000)},
            "timm state has key(s) of a scheduler other than StepLRScheduler/"
            "MultiStepLRScheduler: k00000, k00001, k00002, k00003, k00004, k00005, k00006, "
            "k00007 and 69992 more",
        ),
    ],
    ids=["900-KB-key", "70,000-keys"],
)
def test_keys_in_messages_are_few_and_cut(document: dict[str, object], message: str) -> None:
    with pytest.raises(StateError) as raised:
        timm_files.parse(document)
    assert str(raised.value) == message


def test_an_unrecognised_document_names_a_long_key_by_its_start() -> None:
    from stepsched_cli.formats.unknown import describe

    assert describe(b"{}", {LONG_KEY: 1, "x": 2}) == f"JSON with keys {CUT_KEY}, x"
