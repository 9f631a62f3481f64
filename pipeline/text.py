"""Small text helpers shared by the stages."""
from __future__ import annotations

import re


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
