"""A local Amazon States Language interpreter.

Runs the same ``statemachines/*.asl.json`` files Step Functions runs, with Task
states delegated to a ``ResourceInvoker`` (in-process Lambda handlers, ECS
entry points as subprocesses). Held to moto's independent ASL implementation by
``tests/asl/test_conformance.py``; see ``docs/asl-conformance.md``.
"""

from .choice import evaluate_choice_rule, validate_choice_rule
from .errors import AslDefinitionError, StatesError, TaskFailed
from .executor import ExecutionResult, ResourceInvoker, StateMachine, TaskContext

__all__ = [
    "AslDefinitionError",
    "ExecutionResult",
    "ResourceInvoker",
    "StateMachine",
    "StatesError",
    "TaskContext",
    "TaskFailed",
    "evaluate_choice_rule",
    "validate_choice_rule",
]
