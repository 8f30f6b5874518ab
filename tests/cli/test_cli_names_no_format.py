"""No file under ``stepsched_cli/cli/`` names a format or a framework's files (issue 17).

Every phrase about a format, a hint's files or a framework's counters comes from the
format table (``formats/help_texts.py``, the hints records, the ``Format`` entries) or
the log reader (``runlog``).  A framework may be named only where the word is not a
format reference, each such place listed in :data:`ALLOWED` with why.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stepsched_cli.formats import registry

CLI = Path(__file__).resolve().parents[2] / "stepsched_cli" / "cli"

FRAMEWORK_WORDS = (
    "pytorch", "lightning", "tensorboard", "tensorflow", "jax", "flax", "mmengine", "ignite",
    "accelerate", "hugging face", "transformers", "steplr", "multisteplr", "sequentiallr",
    "checkpointsaver", "torch.save", "state_dict",
)  # fmt: skip
"""Framework and file names the table's format names do not cover."""

FORBIDDEN = sorted(
    {name for name in registry.input_formats() if name != registry.NATIVE_FORMAT}
    | set(FRAMEWORK_WORDS)
)
PATTERN = re.compile(
    # Longest first: torch-checkpoint is one name, not torch.
    r"(?<![\w])("
    + "|".join(re.escape(word) for word in sorted(FORBIDDEN, key=len, reverse=True))
    + r")(?![\w])",
    re.IGNORECASE,
)

ALLOWED: dict[tuple[str, str], str] = {
    ("options/schedule.py", "(timm's warmup_prefix=True)"):
        "what --warmup-prefix means, in the words of the library that has it",
    ("options/pipeline.py", "(a plain PyTorch loop)"):
        "how a training loop rounds accumulation, not a file format",
    ("options/pipeline.py", "(Hugging Face Trainer)"):
        "how a training loop rounds accumulation, not a file format",
    ("commands/steps_per_epoch.py", "which counts as PyTorch does"):
        "how a DataLoader and sampler count batches, not a file format",
    ("commands/steps_per_epoch.py", "As PyTorch counts"):
        "how a DataLoader and sampler count batches, not a file format",
    ("commands/steps_per_epoch.py", "the Hugging Face Trainer does"):
        "how a training loop rounds accumulation, not a file format",
}  # fmt: skip
"""(file under cli/, the phrase that holds the word) -> why it is no format reference."""


def format_references(relative: str, text: str) -> list[str]:
    """``file:line: word`` for every forbidden word in ``text`` no allowed phrase holds."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PATTERN.finditer(line):
            allowed = any(
                where == relative and phrase in line and match.group(0) in phrase
                for where, phrase in ALLOWED
            )
            if not allowed:
                found.append(f"{relative}:{number}: {match.group(0)}")
    return found


def cli_files() -> list[Path]:
    return sorted(CLI.rglob("*.py"))


def test_the_scan_covers_every_format_name_and_the_cli() -> None:
    assert {"torch", "torch-checkpoint", "timm", "keras", "keras-model", "optax"} <= set(FORBIDDEN)
    assert {"json-checkpoint", "tensorboard", "lightning"} <= set(FORBIDDEN)
    assert len(cli_files()) >= 20


def test_no_file_under_cli_names_a_format() -> None:
    found = [
        reference
        for path in cli_files()
        for reference in format_references(path.relative_to(CLI).as_posix(), path.read_text())
    ]
    assert found == []


def test_every_allowed_phrase_is_still_there() -> None:
    for where, phrase in ALLOWED:
        assert phrase in (CLI / where).read_text(), (where, phrase)


@pytest.mark.parametrize(
    ("relative", "line", "expected"),
    [
        ("commands/state.py", 'help="For timm runs stepped per update"', ["timm"]),
        ("commands/state.py", "  stepsched inspect keras-schedule.json", ["keras"]),
        ("commands/code.py", "(a warmup in torch's StepLR, say)", ["torch", "StepLR"]),
        ("commands/check.py", '"--tag", "is for TensorBoard runs"', ["TensorBoard"]),
        ("commands/state.py", "a torch-checkpoint or json-checkpoint file",
         ["torch-checkpoint", "json-checkpoint"]),
        # An allowed phrase is allowed in its own file only.
        ("options/pipeline.py", "floor: it does not (Hugging Face Trainer).", []),
        ("commands/plan.py", "floor: it does not (Hugging Face Trainer).", ["Hugging Face"]),
        # Words that contain a format's name are not its name.
        ("commands/state.py", "sources.describe_formats(sources.input_formats())", []),
        ("commands/code.py", "from stepsched_cli.formats.torch import SNIPPETS", ["torch"]),
        ("commands/state.py", "the optimizer's lr; timmy, optaxes", []),
    ],
)  # fmt: skip
def test_the_scan_flags_format_references(relative: str, line: str, expected: list[str]) -> None:
    assert [ref.rsplit(": ", 1)[1] for ref in format_references(relative, line)] == expected
