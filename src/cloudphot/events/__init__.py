"""The event model: events trigger registered tasks; each (event, task) pair is one job.

Every event is stored with everything its tasks need, so any job can be rerun
from its event, and deterministic ids make duplicates harmless.
"""

from .dispatcher import Dispatcher, JobStarter
from .model import Event, Job, JobState, event_id_for_object, job_id_for
from .notifications import object_created_event
from .registry import Executor, Registry, Task, load_registry
from .store import EventStore

__all__ = [
    "Dispatcher",
    "Event",
    "EventStore",
    "Executor",
    "Job",
    "JobStarter",
    "JobState",
    "Registry",
    "Task",
    "event_id_for_object",
    "job_id_for",
    "load_registry",
    "object_created_event",
]
