"""Box-drawing characters for the terminal plot: a style per curve, and the characters
where curves of different styles meet.

A cell of the picture holds, for each of its arms (left, right, up, down), the style of
the curve drawn on it.  :func:`glyph` gives the character: the curve's own box
character (``─│┐└┘┌┬┴├┤┼`` light, heavy ``━┃┓...``, double ``═║╗...``, ASCII
``-|+``), or, where curves of different styles meet, one whose arms keep their styles
(``┿``: a light vertical line crossed by a heavy horizontal one), so a crossing reads
as one; Unicode has such characters for light with heavy and some light with double.

Example:
    >>> glyph({LEFT: 0, RIGHT: 0}), glyph({LEFT: 1, RIGHT: 1, UP: 0, DOWN: 0})
    ('─', '┿')
"""

from __future__ import annotations

import unicodedata

LEFT, RIGHT, UP, DOWN = 1, 2, 4, 8
_BOX = {
    LEFT | RIGHT: "─",
    UP | DOWN: "│",
    LEFT | DOWN: "┐",
    UP | RIGHT: "└",
    LEFT | UP: "┘",
    DOWN | RIGHT: "┌",
    LEFT | RIGHT | DOWN: "┬",
    LEFT | RIGHT | UP: "┴",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    LEFT | RIGHT | UP | DOWN: "┼",
    LEFT: "─",
    RIGHT: "─",
    UP: "│",
    DOWN: "│",
}


def _restyled(characters: str) -> dict[int, str]:
    """:data:`_BOX` with its light characters ``─│┐└┘┌┬┴├┤┼`` replaced by ``characters``."""
    table = str.maketrans("─│┐└┘┌┬┴├┤┼", characters)
    return {cell: character.translate(table) for cell, character in _BOX.items()}


# The line styles of the curves, in order: light (the first schedule), heavy, double, ASCII.
STYLES = (
    _BOX,
    _restyled("━┃┓┗┛┏┳┻┣┫╋"),
    _restyled("═║╗╚╝╔╦╩╠╣╬"),
    _restyled("-|+++++++++"),
)


def _mixed_glyphs() -> dict[frozenset[tuple[int, int]], str]:
    """The box-drawing characters whose arms differ in style (``┿``: a light vertical
    crossed by a heavy horizontal), keyed by their ``(arm, style)`` pairs.

    Read from the characters' Unicode names (``BOX DRAWINGS VERTICAL LIGHT AND
    HORIZONTAL HEAVY``): a group of arms takes the weight named in it, or the one
    before's (``LIGHT DOWN AND RIGHT``).  Dashed, arc and diagonal characters, whose
    names hold other words, are left out.
    """
    weights = {"LIGHT": 0, "SINGLE": 0, "HEAVY": 1, "DOUBLE": 2}
    arms = {
        "LEFT": (LEFT,),
        "RIGHT": (RIGHT,),
        "UP": (UP,),
        "DOWN": (DOWN,),
        "HORIZONTAL": (LEFT, RIGHT),
        "VERTICAL": (UP, DOWN),
    }
    table = {}
    for code in range(0x2500, 0x2580):
        name = unicodedata.name(chr(code)).removeprefix("BOX DRAWINGS ")
        groups = [group.split() for group in name.split(" AND ")]
        if any(word not in weights and word not in arms for group in groups for word in group):
            continue
        pairs: set[tuple[int, int]] = set()
        weight = -1
        for group in groups:
            weight = next((weights[word] for word in group if word in weights), weight)
            pairs.update((arm, weight) for word in group for arm in arms.get(word, ()))
        if len({weight for _, weight in pairs}) > 1:
            table[frozenset(pairs)] = chr(code)
    return table


# Where curves of different styles meet in one cell, each arm keeps its own style.
_MIXED = _mixed_glyphs()


def glyph(cell: dict[int, int]) -> str:
    """The character of a cell: its curve's box character, or where curves of different
    styles meet, one whose arms keep their styles (``┿``), else the first curve's."""
    bits = sum(cell)
    styles = set(cell.values())
    if len(styles) > 1:
        mixed = _MIXED.get(frozenset(cell.items()))
        if mixed is not None:
            return mixed
    return STYLES[min(styles)][bits]


__all__ = ["DOWN", "LEFT", "RIGHT", "STYLES", "UP", "glyph"]
