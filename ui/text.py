"""Small text helpers for captions drawn in narrow places."""
from __future__ import annotations

import re

#: Zero-width space: an invisible place where the browser may break a line.
BREAK = "\u200b"


def breakable_file_name(name: str) -> str:
    """``PrivateTest_10077120.jpg`` -> ``PrivateTest_<ZWSP>10077120<ZWSP>.jpg``: a file name under a
    96 px thumbnail wraps at its natural joints instead of mid-word (a name has no spaces, so the
    browser's only other choice is to break anywhere)."""
    return re.sub(r"(?<=[_\-])(?=.)|(?<=.)(?=\.[^.]*$)", BREAK, name)
