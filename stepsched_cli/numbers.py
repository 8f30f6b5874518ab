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

DEFAULT_DIGITS = 6

_SI_PREFIXES = (
    (10**18, "E"),
    (10**15, "P"),
    (10**12, "T"),
    (10**9, "G"),
    (10**6, "M"),
    (10**3, "k"),
)


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

    Example:
        >>> [format_count(x) for x in (0, 30, 9999, 150000, 10**12, 0.5)]
        ['0', '30', '9999', '150k', '1T', '0.5']
    """
    if value != int(value):
        return f"{value:g}"
    whole = int(value)
    if abs(whole) < 10_000:
        return str(whole)
    for size, prefix in _SI_PREFIXES:
        if abs(whole) >= size:
            return f"{whole / size:.3g}{prefix}"
    return str(whole)  # pragma: no cover - every whole number >= 10,000 has a prefix


__all__ = ["DEFAULT_DIGITS", "format_count", "format_exact", "format_lr"]
