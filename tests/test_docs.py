"""The docs cover the code: every CLI command and option is in docs/cli.md, every setting in
docs/configuration.md (whose table is generated from SETTINGS).

Regenerate the settings table after changing SETTINGS:

    PYTHONPATH=src python tests/test_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from allroads.cli.main import app
from allroads.cli.options import TENANT_ENV
from allroads.settings import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"
CLI_MD = DOCS / "cli.md"
CONFIGURATION_MD = DOCS / "configuration.md"
BEGIN = "<!-- settings-table: begin (generated from allroads.settings.SETTINGS) -->"
END = "<!-- settings-table: end -->"


def commands() -> list[tuple[str, Any]]:
    """Every command below the root, groups included: ("apikey create", command)."""
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        if path:
            found.append((" ".join(path), cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def section(text: str, command: str) -> str:
    """The part of cli.md from the heading of `allroads COMMAND` to the next command heading."""
    heading = re.compile(rf"^#+ `allroads {re.escape(command)}`\s*$", re.MULTILINE)
    match = heading.search(text)
    assert match, f"docs/cli.md has no heading `allroads {command}`"
    following = re.compile(r"^#+ `allroads ", re.MULTILINE).search(text, match.end())
    return text[match.end():following.start() if following else len(text)]


def settings_table() -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| Setting | Environment variable | Default | Description |",
             "|---|---|---|---|"]
    lines += [f"| `{s.name}` | `{s.env}` | `{cell(s.default)}` | {cell(s.help)} |"
              for s in SETTINGS]
    return "\n".join(lines)


def generated_part(text: str) -> str:
    assert BEGIN in text and END in text, "docs/configuration.md lost its table markers"
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


@pytest.mark.parametrize("command", [name for name, _ in commands()])
def test_every_command_is_documented(command: str) -> None:
    section(CLI_MD.read_text(encoding="utf-8"), command)


@pytest.mark.parametrize(("command", "cmd"), [(name, cmd) for name, cmd in commands()
                                               if not getattr(cmd, "commands", None)])
def test_every_option_and_argument_is_documented(command: str, cmd: Any) -> None:
    text = section(CLI_MD.read_text(encoding="utf-8"), command)
    for param in cmd.params:
        if getattr(param, "param_type_name", "") == "argument":
            assert (param.metavar or param.name.upper()) in text, \
                f"`allroads {command}`: argument {param.name} is not documented"
        else:
            longest = max(param.opts, key=len)
            assert f"`{longest}" in text, f"`allroads {command}`: {longest} is not documented"


def test_every_setting_is_documented() -> None:
    text = CONFIGURATION_MD.read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert setting.env in text
    assert TENANT_ENV in text
    assert generated_part(text) == settings_table(), \
        "docs/configuration.md is out of date: run PYTHONPATH=src python tests/test_docs.py"


def test_commands_named_in_the_docs_exist() -> None:
    known = {name for name, _ in commands()}
    for text in (CLI_MD.read_text(encoding="utf-8"),
                 CONFIGURATION_MD.read_text(encoding="utf-8")):
        for match in re.finditer(r"^#+ `allroads ([a-z ]+)`", text, re.MULTILINE):
            assert match.group(1).strip() in known, f"no command `allroads {match.group(1)}`"


if __name__ == "__main__":
    current = CONFIGURATION_MD.read_text(encoding="utf-8")
    before, rest = current.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    CONFIGURATION_MD.write_text(f"{before}{BEGIN}\n{settings_table()}\n{END}{after}",
                                encoding="utf-8")
    print(f"wrote {CONFIGURATION_MD}")
