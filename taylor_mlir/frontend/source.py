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
import sysconfig
import traceback

import torch
import torch.fx

_FRAME = re.compile(
    r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>[^\n]+)'
    r"(?:\n(?P<code>[ \t]+[^\n]*))?"
)
_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_FRONTEND_DIR = os.path.dirname(__file__) + os.sep
_STDLIB_DIR = sysconfig.get_paths()["stdlib"] + os.sep
_SITE_DIR = sysconfig.get_paths()["purelib"] + os.sep  # may be inside the stdlib's


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
    return _format(frame["file"], frame["line"], frame["function"], frame["code"])


def traceback_line(error: BaseException) -> str | None:
    """The same for the innermost user frame of an exception's traceback (f
    runs as Python under torch.export, so its frames are there), or None."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith((_TORCH_DIR, _FRONTEND_DIR, "<"))
        and not (
            frame.filename.startswith(_STDLIB_DIR)
            and not frame.filename.startswith(_SITE_DIR)
        )
    ]
    if not frames:
        return None
    frame = frames[-1]
    return _format(frame.filename, frame.lineno, frame.name, frame.line)


def _format(file: str, line: object, function: str, code: str | None) -> str:
    where = f"{file}:{line} in {function.strip()}"
    code = (code or "").strip()
    return f"{where}: {code}" if code else where
