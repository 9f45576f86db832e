"""The task registry: tasks, the event types that trigger them, their conditions and options."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import InvalidTaskRegistry
from .model import Event

__all__ = ["DEFAULT_REGISTRY", "Executor", "Registry", "Task", "load_registry"]

EXECUTOR_KINDS = ("state_machine", "lambda", "ecs")
DEFAULT_REGISTRY = "tasks.toml"


@dataclass(frozen=True)
class Executor:
    kind: str  # state_machine | lambda | ecs
    name: str  # logical id in template.yaml

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True)
class Task:
    name: str
    trigger: str
    executor: Executor
    condition: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: every product the task writes is keyed by its options' ``branch``, so it can be
    #: replayed as a branch without overwriting anything (``cloudphot replay``)
    branchable: bool = False

    def matches(self, event: Event) -> bool:
        if event.type != self.trigger:
            return False
        if not self.condition:
            return True
        from ..asl import evaluate_choice_rule

        return bool(evaluate_choice_rule(self.condition, event.as_input()))

    def to_item(self) -> dict[str, Any]:
        item = {
            "name": self.name,
            "trigger": self.trigger,
            "executor": self.executor.to_dict(),
            "options": self.options,
            "description": self.description,
            "branchable": self.branchable,
        }
        if self.condition:
            item["condition"] = self.condition
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any], *, where: str = "task") -> Task:
        try:
            name, trigger, ex = item["name"], item["trigger"], item["executor"]
        except KeyError as exc:
            raise InvalidTaskRegistry(f"{where}: missing field {exc.args[0]!r}") from None
        if not isinstance(ex, dict) or ex.get("kind") not in EXECUTOR_KINDS or not ex.get("name"):
            raise InvalidTaskRegistry(
                f"{where} ({name}): executor must be {{kind = one of {EXECUTOR_KINDS}, name = ...}}, "
                f"got {ex!r}"
            )
        cond = item.get("condition")
        if cond is not None and not isinstance(cond, dict):
            raise InvalidTaskRegistry(f"{where} ({name}): condition must be a Choice rule table")
        opts = item.get("options") or {}
        if not isinstance(opts, dict):
            raise InvalidTaskRegistry(f"{where} ({name}): options must be a table")
        return cls(
            name=str(name),
            trigger=str(trigger),
            executor=Executor(ex["kind"], ex["name"]),
            condition=cond,
            options=dict(opts),
            description=str(item.get("description", "")),
            branchable=bool(item.get("branchable", False)),
        )


class Registry:
    """Tasks by name, with lookup of the tasks an event triggers."""

    def __init__(self, tasks: list[Task]):
        seen: dict[str, Task] = {}
        for t in tasks:
            if t.name in seen:
                raise InvalidTaskRegistry(f"task {t.name!r} is registered twice")
            seen[t.name] = t
        self.tasks = seen

    def __iter__(self):
        return iter(self.tasks.values())

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            raise InvalidTaskRegistry(
                f"no task named {name!r}; registered: {', '.join(sorted(self.tasks)) or 'none'}"
            ) from None

    def triggered_by(self, event: Event) -> list[Task]:
        return [t for t in self.tasks.values() if t.matches(event)]

    # persistence ---------------------------------------------------------------
    def save(self, tables) -> None:
        for t in self:
            tables.put("tasks", t.to_item())

    @classmethod
    def from_tables(cls, tables) -> Registry:
        return cls(
            [
                Task.from_item(i, where=f"tasks table item {i.get('name')!r}")
                for i in tables.scan("tasks")
            ]
        )


def load_registry(path: str | Path | None = None) -> Registry:
    """Parse a registry file (default: the one shipped inside the package)."""
    if path is None:
        text = resources.files("cloudphot.pipeline").joinpath(DEFAULT_REGISTRY).read_text()
        where = f"cloudphot/pipeline/{DEFAULT_REGISTRY}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidTaskRegistry(f"{where}: cannot read ({exc.strerror})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidTaskRegistry(f"{where}: not valid TOML ({exc})") from None
    items = doc.get("task", [])
    if not isinstance(items, list):
        raise InvalidTaskRegistry(f"{where}: tasks must be [[task]] tables")
    registry = Registry(
        [Task.from_item(i, where=f"{where} [[task]] #{n + 1}") for n, i in enumerate(items)]
    )
    for t in registry:  # fail at load time, not at the first matching event
        if t.condition:
            _check_condition(t, where)
    return registry


def _check_condition(task: Task, where: str) -> None:
    from ..asl import evaluate_choice_rule

    if not task.condition:
        return
    probe = Event(event_id="probe", type=task.trigger, subject="", payload={})
    try:
        evaluate_choice_rule(task.condition, probe.as_input())
    except Exception as exc:
        if "Invalid" in type(exc).__name__ or "Definition" in type(exc).__name__:
            raise InvalidTaskRegistry(f"{where} ({task.name}): bad condition: {exc}") from None
