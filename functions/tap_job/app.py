"""TapJob state machine steps (prepare, finish, fail) of one async TAP job."""

from cloudphot.service.aws import job_handler as handler  # noqa: F401
