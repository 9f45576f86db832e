"""Helpers shared by the template contract tests (walking ASL states, reading intrinsics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def iter_states(states: dict, path: str = ""):
    """Every state of a definition, recursing into Map (Iterator/ItemProcessor) and Parallel."""
    for name, state in states.items():
        where = f"{path}{name}"
        yield where, state
        if state.get("Type") == "Map":
            inner = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from iter_states(inner.get("States", {}), f"{where}/")
        if state.get("Type") == "Parallel":
            for i, branch in enumerate(state.get("Branches", [])):
                yield from iter_states(branch.get("States", {}), f"{where}[{i}]/")


def definition_text(project_root: Path, uri: str) -> str:
    return (project_root / uri).read_text(encoding="utf-8")


def definition(project_root: Path, uri: str) -> dict:
    """The definition as JSON with placeholders replaced by harmless strings."""
    return json.loads(PLACEHOLDER.sub("placeholder", definition_text(project_root, uri)))


def references(value) -> set[str]:
    """Logical ids (and pseudo parameters) an intrinsic expression refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        for fn, arg in value.items():
            if fn == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif fn == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif fn == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                found |= {
                    m.split(".", 1)[0]
                    for m in PLACEHOLDER.findall(text)
                    if m not in local and not m.startswith("!")
                }
                found |= references(local)
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for v in value:
            found |= references(v)
    return found
