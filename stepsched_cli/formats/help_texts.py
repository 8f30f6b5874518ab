"""Help phrases derived from the format table, for the command line, which names no format.

:func:`hint_help` is the help of the option that sets a hint: the phrase the first
hints record in table order declares for it (:func:`~stepsched_cli.formats.hints.declared_help`),
or, for ``position``, the formats that take it and what each one's position counts
(:attr:`~stepsched_cli.formats.registry.Format.position_help`).  :func:`writing_help`
is what ``--to`` writes beyond each format's phrase.
"""

from __future__ import annotations

from stepsched_cli.formats import registry
from stepsched_cli.formats.hints import declared_help

__all__ = ["hint_help", "unitless_files", "writing_help"]


def hint_help(name: str) -> str:
    """The help phrase for the hint ``name``, for the option that sets it: what the first
    record in table order that declares one says; ``position``'s is derived from the
    formats that take it and what each one's position counts.

    Example:
        >>> hint_help("position").split(":")[0]
        'For documents that record no position (timm, keras, keras-model, keras-h5, optax)'
    """
    if name == "position":
        counters = "; ".join(
            entry.position_help for entry in registry.FORMATS if entry.position_help
        )
        formats = ", ".join(registry.unpositioned_formats())
        return (
            f"For documents that record no position ({formats}): "
            f"the position to read them at ({counters}), 0 to {registry.MAX_POSITION} (2**63 - 1). "
            "Default 0."
        )
    return next(
        (phrase for kind in registry.hint_kinds() if (phrase := declared_help(kind, name))), ""
    )


def writing_help() -> str:
    """What ``--to`` writes beyond each format's phrase: the writers' own notes, then which
    formats write a document that records no position."""
    notes = [entry.write_help for entry in registry.FORMATS if entry.write_help]
    documents = [
        name for name in registry.output_formats() if name in registry.unpositioned_formats()
    ]
    listed = ", ".join(documents[:-1]) + f" and {documents[-1]}"
    return " ".join(
        [*notes, f"{listed} write the schedule's JSON document, which has no position."]
    )


def unitless_files() -> str:
    """The formats whose positions have no unit, for ``--mode``'s help: ``torch,
    torch-checkpoint and json-checkpoint files``."""
    names = [entry.name for entry in registry.FORMATS if not entry.records_unit]
    return ", ".join(names[:-1]) + f" and {names[-1]} files"
