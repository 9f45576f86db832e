"""Errors of the ASL interpreter.

Two families: ``AslDefinitionError`` is raised at construction (the definition is
wrong; like CreateStateMachine's validation), while ``StatesError`` travels inside
an execution carrying the Step Functions error name and cause that Retry/Catch
match on. ``TaskFailed`` is what resource invokers raise to fail a Task with a
chosen error name.
"""

from __future__ import annotations

from cloudphot.errors import CloudphotError, ConfigError

__all__ = [
    "AslDefinitionError",
    "ExecutionAborted",
    "SpecRuntimeError",
    "StatesError",
    "TaskFailed",
]


class AslDefinitionError(ConfigError):
    """The state machine definition is invalid (message names the state and field)."""


class TaskFailed(CloudphotError):
    """Raised by a resource invoker to fail its Task with Step Functions error ``error``."""

    def __init__(self, error: str, cause: str = ""):
        if not isinstance(error, str) or not error:
            raise ValueError("TaskFailed needs a non-empty error name")
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}" if cause else error)

    @property
    def error_name(self) -> str:
        """The error name the state machine sees (not the class name)."""
        return self.error


class StatesError(Exception):
    """An error raised during an execution, with its ASL error name and cause."""

    def __init__(self, error: str | None, cause: str | None = ""):
        self.error = error
        self.cause = cause
        self.state: str | None = None  # where it was raised (set by the executor)
        self.entered_event_id: int | None = None
        # States.DataLimitExceeded from a connector's result is caught by States.ALL on
        # AWS (recorded); over-size state input/output is not (developer guide)
        self.catchable_by_all = False
        self.location: str | None = None  # the field a JSONata query failed in
        super().__init__(f"{error}: {cause}")


class SpecRuntimeError(StatesError):
    """A runtime error the ASL spec names specifically (States.NoChoiceMatched,
    States.IntrinsicFailure, States.ParameterPathFailure) but AWS Step Functions
    reports as ``States.Runtime``; the executor renames it unless asked for spec names."""


class ExecutionAborted(Exception):
    """Internal: the execution (or an enclosing Map/Parallel) was stopped."""
