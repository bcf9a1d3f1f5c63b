"""The markdown report: one section per benchmark, each a table whose figures sit next to their baselines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


def from_docstring(doc: str | None) -> str:
    """A module docstring's body (after its summary line) as one markdown paragraph: the method, said once."""
    body = (doc or "").split("\n\n", 1)[-1]
    body = re.sub(r":(?:mod|data|func|class):`([^`]+)`", r"`\1`", body)
    return " ".join(body.replace("``", "`").split())


@dataclass
class Section:
    """One benchmark's results. ``summary`` lines also go to stdout."""

    title: str
    method: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def render(self) -> str:
        lines = [f"## {self.title}", ""]
        if self.method:
            lines += [self.method, ""]
        if self.error:
            lines += [f"**Failed:** `{self.error}`", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.headers) + " |")
            lines.append("|" + "|".join(" --- " for _ in self.headers) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in self.rows]
            lines.append("")
        lines += [f"- {note}" for note in self.notes]
        lines += ["", f"_took {self.seconds:.0f} s_", ""]
        return "\n".join(lines)


@dataclass
class Report:
    title: str
    context: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = [f"# {self.title}", "", *[f"- {line}" for line in self.context], ""]
        parts += [section.render() for section in self.sections]
        if self.footer:
            parts += ["## Run", "", *[f"- {line}" for line in self.footer], ""]
        return "\n".join(parts)

    def write(self, path: Path) -> None:
        path.write_text(self.render())

    def summary(self) -> str:
        lines = []
        for section in self.sections:
            lines.append(section.title + (f": FAILED ({section.error})" if section.error else ""))
            lines += [f"  {line}" for line in section.summary]
        return "\n".join(lines)
