"""The event model: events trigger registered tasks; each (event, task) pair is one job.

Every event is stored with everything its tasks need, so any job can be rerun
from its event, and deterministic ids make duplicates harmless.
"""

from .model import Event, Job, JobState, event_id_for_object, job_id_for
from .registry import Executor, Registry, Task, load_registry
from .dispatcher import Dispatcher, JobStarter
from .store import EventStore
from .notifications import object_created_event

__all__ = [
    "Event", "Job", "JobState", "event_id_for_object", "job_id_for",
    "Executor", "Registry", "Task", "load_registry",
    "Dispatcher", "JobStarter", "EventStore", "object_created_event",
]
