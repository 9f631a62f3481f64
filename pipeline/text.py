"""Small text helpers shared by the stages."""
from __future__ import annotations

import re


# A fenced code block's opening or closing line (CommonMark: up to three spaces of indent).
CODE_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def fenced_lines(lines: list[str]):
    """(index, line, inside) for each line, inside being True for the lines of a fenced code
    block's content (not its fences): what the preprocessors leave alone or act on."""
    fence = None
    for index, line in enumerate(lines):
        opening = CODE_FENCE.match(line)
        if fence is None:
            if opening:
                fence = opening[1]
            yield index, line, False
        elif opening and opening[1][0] == fence[0] and len(opening[1]) >= len(fence) \
                and not line.strip()[len(opening[1]):]:
            fence = None
            yield index, line, False
        else:
            yield index, line, True


def slugify_ascii(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or fallback


def number_ranges(numbers) -> list[tuple[int, int]]:
    """Sorted numbers as runs of consecutive ones: [3, 4, 5, 9] -> [(3, 5), (9, 9)] (an index's
    pages 3–5, 9; a citation's [3-5,9])."""
    ranges: list[tuple[int, int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges
