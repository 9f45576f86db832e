"""Workflow variables (``Assign`` and ``$name``) with Step Functions' scoping rules.

As the developer guide describes them ("Passing data between states with
variables"): the top-level states of an execution share one scope; each Parallel
branch and each Map iteration runs in a scope of its own that can read the
enclosing scopes but cannot assign a name an outer scope holds; the child
executions of a Distributed Map see no outer variables. All the values of one
``Assign`` are evaluated against the variables as they were when the state was
entered and take effect together when the state exits (the executor evaluates
first, then calls :meth:`Scope.assign`). Quotas: 256 KiB per variable and per
Assign field, 10 MiB of variables per execution (``States.DataLimitExceeded``).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import StatesError

__all__ = [
    "ASSIGN_LIMIT_BYTES",
    "EXECUTION_LIMIT_BYTES",
    "VARIABLE_LIMIT_BYTES",
    "Context",
    "Scope",
    "UnknownVariable",
    "check_variable_name",
    "path_document",
]

VARIABLE_LIMIT_BYTES = 256 * 1024
ASSIGN_LIMIT_BYTES = 256 * 1024
EXECUTION_LIMIT_BYTES = 10 * 1024 * 1024
_MAX_NAME = 80
RESERVED = "states"


class UnknownVariable(LookupError):
    """A path or expression named a variable no state has assigned in scope."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


def check_variable_name(name: Any) -> str | None:
    """Why ``name`` cannot be a variable name, or None when it can.

    Unicode identifier rules (start character, then continue characters; Python's
    ``str.isidentifier`` implements UAX #31), at most 80 characters, not ``states``.
    """
    if not isinstance(name, str) or not name:
        return "a variable name must be a non-empty string"
    if len(name) > _MAX_NAME:
        return f"variable names are limited to {_MAX_NAME} characters"
    if name == RESERVED:
        return "'states' is reserved ($states holds the state's input, result and context)"
    if not name.isidentifier():
        return (
            "a variable name must start with a letter or '_' and continue with "
            "letters, digits or '_' (Unicode identifier rules)"
        )
    return None


class Scope:
    """One variable scope; reads fall through to the enclosing scopes.

    Not locked: a scope is written only by the states of its own machine, which run
    one at a time, and an outer scope cannot change while an inner one is alive
    (its Map or Parallel state is still running).
    """

    __slots__ = ("_sizes", "parent", "root", "values")

    def __init__(self, parent: Scope | None = None):
        self.parent = parent
        self.root: Scope = parent.root if parent is not None else self
        self.values: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}

    def lookup(self, name: str) -> Any:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        raise UnknownVariable(name)

    def visible(self) -> dict[str, Any]:
        """Every variable readable here (inner names hide nothing: they cannot repeat)."""
        chain = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope.parent
        out: dict[str, Any] = {}
        for s in reversed(chain):
            out.update(s.values)
        return out

    def _outer_holds(self, name: str) -> bool:
        scope = self.parent
        while scope is not None:
            if name in scope.values:
                return True
            scope = scope.parent
        return False

    def _total(self) -> int:
        return sum(sum(s._sizes.values()) for s in _all_scopes(self))

    def assign(self, values: dict[str, Any], state: str) -> dict[str, str]:
        """Bind the already evaluated ``values``; return them as the history shows them.

        Raises StatesError: ``States.Runtime`` for a name an outer scope holds,
        ``States.DataLimitExceeded`` over the variable quotas.
        """
        texts: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for name, value in values.items():
            if self._outer_holds(name):
                raise StatesError(
                    "States.Runtime",
                    f"The state '{state}' cannot assign the variable '{name}': it belongs to "
                    "an outer scope (states inside a Map or Parallel may read outer "
                    "variables but not assign them; return data through Output)",
                )
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            texts[name] = text
            sizes[name] = len(text.encode("utf-8"))
            if sizes[name] > VARIABLE_LIMIT_BYTES:
                raise StatesError(
                    "States.DataLimitExceeded",
                    f"The variable '{name}' assigned by the state '{state}' is "
                    f"{sizes[name]:,} bytes; a variable holds at most "
                    f"{VARIABLE_LIMIT_BYTES:,} bytes (256 KiB).",
                )
        if sum(sizes.values()) > ASSIGN_LIMIT_BYTES:
            raise StatesError(
                "States.DataLimitExceeded",
                f"The Assign field of the state '{state}' assigns {sum(sizes.values()):,} "
                f"bytes; one Assign holds at most {ASSIGN_LIMIT_BYTES:,} bytes (256 KiB).",
            )
        before = {n: self._sizes.get(n, 0) for n in values}
        total = self._total() - sum(before.values()) + sum(sizes.values())
        if total > EXECUTION_LIMIT_BYTES:
            raise StatesError(
                "States.DataLimitExceeded",
                f"The state '{state}' would bring the execution's variables to {total:,} "
                f"bytes; an execution holds at most {EXECUTION_LIMIT_BYTES:,} bytes (10 MiB).",
            )
        self.values.update(values)
        self._sizes.update(sizes)
        return texts


def _all_scopes(scope: Scope) -> list[Scope]:
    out = []
    s: Scope | None = scope
    while s is not None:
        out.append(s)
        s = s.parent
    return out


class Context(dict):
    """The context object (``$$``), carrying the variable scope of the state that
    reads it, so every place that resolves a path can resolve ``$name`` too."""

    __slots__ = ("entered_event_id", "variables")

    def __init__(
        self, *args, variables: Scope | None = None, entered_event_id: int | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.variables = variables
        self.entered_event_id = entered_event_id


def path_document(path, data: Any, ctx: Any) -> Any:
    """The document a compiled path reads: a variable's value, the context object
    (``$$``) or the state's data (``$``).

    An unassigned variable is a ``States.Runtime`` error (the developer guide does
    not say what AWS reports; the wording is ours).
    """
    if path.variable is None:
        return ctx if path.context else data
    variables = getattr(ctx, "variables", None)
    try:
        if variables is None:
            raise UnknownVariable(path.variable)
        return variables.lookup(path.variable)
    except UnknownVariable:
        raise StatesError(
            "States.Runtime",
            f"The path '{path.text}' refers to the variable ${path.variable}, which no "
            "state in scope has assigned (variables are set by Assign and exist only "
            "after the assigning state exits)",
        ) from None
