"""Entry point of the catalog-build task (the photometry image, another command).

The build_catalog state machine starts it on Fargate with the ``field.reduced`` event
in ``CLOUDPHOT_REQUEST``; all logic is in :func:`cloudphot.catalog.steps.catalog_task`,
the protocol (result and error lines, exit codes, SIGTERM) in :mod:`cloudphot.worker`.
"""

from __future__ import annotations

import sys

from cloudphot.catalog.steps import catalog_task
from cloudphot.platform import current_platform, services
from cloudphot.worker import run_worker


def main(argv: list[str] | None = None) -> int:
    return run_worker(
        lambda request: catalog_task(request, services()),
        argv=sys.argv[1:] if argv is None else argv,
        open_objects=lambda settings: current_platform(settings).objects,
    )


if __name__ == "__main__":
    sys.exit(main())
