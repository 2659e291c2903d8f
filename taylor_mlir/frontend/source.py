"""
The user's source line behind an FX node, for error messages.

`torch.export` records, per node, a `stack_trace` of the frames that produced
it: `File "model.py", line 12, in forward\\n    return torch.atan(h)`. The
line to show is the last frame of user code: not inside torch (an
`nn.Linear`'s own frame) and not this frontend's wrapper of plain functions.
"""

from __future__ import annotations

import os
import re

import torch
import torch.fx

_FRAME = re.compile(
    r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>[^\n]+)'
    r"(?:\n(?P<code>[ \t]+[^\n]*))?"
)
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_FRONTEND_DIR = os.path.dirname(__file__) + os.sep


def source_line(node: torch.fx.Node) -> str | None:
    """`file:line in function: code` of the last user frame, or None."""
    trace = node.meta.get("stack_trace")
    if not trace:
        return None
    frames = [
        frame
        for frame in _FRAME.finditer(trace)
        if not frame["file"].startswith(_FRONTEND_DIR)
    ]
    user_frames = [f for f in frames if not f["file"].startswith(_TORCH_DIR)]
    frame = (user_frames or frames or [None])[-1]
    if frame is None:
        return None
    where = f"{frame['file']}:{frame['line']} in {frame['function'].strip()}"
    code = (frame["code"] or "").strip()
    return f"{where}: {code}" if code else where
