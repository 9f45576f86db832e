"""Entry point of the photometry container: one field's photometry, with the worker protocol.

ECS (or the local ECS runner, as a subprocess) starts this with the job request
in ``CLOUDPHOT_REQUEST``/``CLOUDPHOT_REQUEST_FILE`` or ``--request``; all logic
is in :func:`cloudphot.dolphot.job.photometry_job`, the protocol (result and
error lines, exit codes, SIGTERM on Spot reclaim) in :mod:`cloudphot.worker`,
the object store in the platform the environment names.
"""

from __future__ import annotations

import sys

from cloudphot.dolphot.job import photometry_job
from cloudphot.platform import current_platform
from cloudphot.worker import run_worker


def _job(request: dict) -> dict:
    platform = current_platform()
    return photometry_job(request, settings=platform.settings, store=platform.objects)


def main(argv: list[str] | None = None) -> int:
    return run_worker(
        _job,
        argv=sys.argv[1:] if argv is None else argv,
        open_objects=lambda settings: current_platform(settings).objects,
    )


if __name__ == "__main__":
    sys.exit(main())
