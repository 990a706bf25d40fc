"""`python -m detection group`: one group id per stdin line, through the production path.

Lines are read as bytes and decoded as UTF-8 with replacement, so no input (invalid UTF-8,
control characters, empty or very long lines) can stop the run or shift the output: line `n` of
the output is the group of line `n` of the input, as of the end of the input (templates, then
the merge step with the default configuration; see `detection.merge.group_messages`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from detection.merge import group_messages

USAGE = "usage: python -m detection group < lines.txt"


def read_lines(data: bytes) -> list[str]:
    """The input's lines (`\\n`, `\\r\\n`), decoded with replacement; no trailing empty line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [line.removesuffix(b"\r").decode("utf-8", errors="replace") for line in lines]


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["group"]:
        print(USAGE, file=sys.stderr)
        return 2
    groups = group_messages(read_lines(sys.stdin.buffer.read()))
    sys.stdout.write("".join(f"{group}\n" for group in groups))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
