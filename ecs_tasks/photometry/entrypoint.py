"""Entry point of the photometry container: one field's photometry, with the worker protocol.

ECS (or the local ECS runner, as a subprocess) starts this with the job request
in ``CLOUDPHOT_REQUEST``/``CLOUDPHOT_REQUEST_FILE`` or ``--request``; all logic
is in :func:`cloudphot.dolphot.job.photometry_job`, the protocol (result and
error lines, exit codes, SIGTERM on Spot reclaim) in :mod:`cloudphot.worker`.
"""

from __future__ import annotations

import sys

from cloudphot.dolphot.job import photometry_job
from cloudphot.worker import run_worker


def main(argv: list[str] | None = None) -> int:
    return run_worker(photometry_job, argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
