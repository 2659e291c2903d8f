"""The README's IR excerpt is real: the command it names prints those lines."""

import re
import shlex
from pathlib import Path

from taylor_mlir import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_ir_levels_excerpt_is_printed_by_its_command(capsys, monkeypatch):
    section = _section("IR levels")
    (command,) = re.findall(r"`(taylor-mlir compile [^`]+)`", section)
    (excerpt,) = re.findall(r"```mlir\n(.*?)```", section, re.DOTALL)
    monkeypatch.chdir(README.parent)  # the command's paths are the repository's
    argv = shlex.split(command)[1:]
    assert cli.main(argv) == 0, capsys.readouterr().err
    printed = [line.strip() for line in capsys.readouterr().out.splitlines()]
    lines = [line.strip() for line in excerpt.strip().splitlines()]
    starts = [i for i, line in enumerate(printed) if line == lines[0]]
    assert any(printed[i : i + len(lines)] == lines for i in starts), (
        f"the README's excerpt is not a run of lines that `{command}` prints; "
        "paste the current output:\n" + "\n".join(printed)
    )
