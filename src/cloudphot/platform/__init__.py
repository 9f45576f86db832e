"""One seam between cloudphot and where it runs (see ``docs/architecture.md``).

:class:`Platform` is the interface, :func:`open_platform` the only code that reads
the backend choice, :func:`services` and :func:`make_handler` what Lambda handlers
are built from.
"""

from .base import (
    ExecutionHistory,
    ExecutionRecord,
    PipelineRunner,
    Platform,
    QueryEngine,
    RunSummary,
)
from .factory import open_platform
from .handler import current_platform, make_handler, services

__all__ = [
    "ExecutionHistory",
    "ExecutionRecord",
    "PipelineRunner",
    "Platform",
    "QueryEngine",
    "RunSummary",
    "current_platform",
    "make_handler",
    "open_platform",
    "services",
]
