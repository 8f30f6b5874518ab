"""Numbers for people: the one place a learning rate or a position is formatted as text.

Machine formats (JSON, CSV) never come here: they carry the exact float (``repr``).
Everything a person reads does: the CLI's tables and messages (six significant
digits) and the terminal plot's axis labels (three digits, short exponents).

Example:
    >>> format_lr(0.0010000000000000002), format_lr(1e-05), format_lr(1e-05, 3, short_exponent=True)
    ('0.001', '1e-05', '1e-5')
    >>> format_count(150000), format_count(2.5e6), format_count(9999)
    ('150k', '2.5M', '9999')
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_DIGITS = 6
# A list of positions is shown in full up to this many; longer, summarised.
LISTED_POSITIONS = 8

# In increasing order: the first whose rounded mantissa stays below 1000 is used.
_SI_PREFIXES = (
    (10**3, "k"),
    (10**6, "M"),
    (10**9, "G"),
    (10**12, "T"),
    (10**15, "P"),
    (10**18, "E"),
)
_COUNT_DIGITS = 3


def format_lr(value: float, digits: int = DEFAULT_DIGITS, *, short_exponent: bool = False) -> str:
    """A float in at most ``digits`` significant digits, the shortest form (``%g``).

    Args:
        value: The number (usually a learning rate).
        digits: Significant digits, >= 1.
        short_exponent: Write exponents without padding (``1e-5`` rather than
            ``1e-05``), for tight spaces such as axis labels.

    Example:
        >>> [format_lr(x) for x in (0.1, 0.001, 1e-05, 0.0)]
        ['0.1', '0.001', '1e-05', '0']
        >>> [format_lr(x, 3, short_exponent=True) for x in (0.00015, 2.5e-08, 150.0)]
        ['0.00015', '2.5e-8', '150']
    """
    text = f"{value:.{digits}g}"
    if short_exponent and "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def format_exact(value: float) -> str:
    """A float exactly: the shortest text that reads back as the same float (``repr``).

    For values a person copies into another command (a solved gamma), where six
    digits would change the schedule.

    Example:
        >>> format_exact(0.1), format_exact(0.31622776601683794)
        ('0.1', '0.31622776601683794')
    """
    return repr(float(value))


def format_count(value: float) -> str:
    """A position for an axis: whole numbers below 10,000 in full, larger with k, M, G, ...

    The mantissa has at most three significant digits and stays below 1000 after
    rounding (999,950 is ``1M``, not ``1e+03k``); beyond the largest prefix (``E``,
    10**18) the number is written ``%.3g`` (``1e+21``).

    Example:
        >>> [format_count(x) for x in (0, 30, 9999, 150000, 10**12, 0.5)]
        ['0', '30', '9999', '150k', '1T', '0.5']
        >>> [format_count(x) for x in (999950, 999.5e18, 1e21)]
        ['1M', '1e+21', '1e+21']
    """
    if value != int(value):
        return f"{value:g}"
    whole = int(value)
    if abs(whole) < 10_000:
        return str(whole)
    for size, prefix in _SI_PREFIXES:
        mantissa = f"{whole / size:.{_COUNT_DIGITS}g}"
        if abs(float(mantissa)) < 1000:
            return mantissa + prefix
    return f"{value:.{_COUNT_DIGITS}g}"


__all__ = ["DEFAULT_DIGITS", "format_count", "format_exact", "format_lr"]


def format_positions(positions: Sequence[int], separator: str = ",") -> str:
    """Positions (milestones, decays) for a person: every one up to
    :data:`LISTED_POSITIONS`, else the first three and the last, so that a title or a
    message stays short however long the list (20,000 milestones are 29 characters).

    Example:
        >>> format_positions([30, 60, 80])
        '30,60,80'
        >>> format_positions(range(1, 20001), ", ")
        '1, 2, 3, ..., 20000 (20000 in all)'
    """
    return format_items(positions, separator)


def format_items(items: Sequence[object], separator: str = ", ") -> str:
    """Any list for a person, as :func:`format_positions` shows positions: each item
    (``str``) up to :data:`LISTED_POSITIONS`, else the first three, ``...``, the last
    and the count; only the items shown are turned into text.

    Example:
        >>> format_items(["30 (x2)", "80"])
        '30 (x2), 80'
        >>> format_items([f"{index}: 0.5" for index in range(100)])
        '0: 0.5, 1: 0.5, 2: 0.5, ..., 99: 0.5 (100 in all)'
    """
    if len(items) <= LISTED_POSITIONS:
        return separator.join(str(item) for item in items)
    shown = [*(str(item) for item in items[:3]), "...", str(items[-1])]
    return f"{separator.join(shown)} ({len(items)} in all)"
