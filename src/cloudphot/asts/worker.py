"""``python -m cloudphot.asts.worker``: the AST container's entry point (in the photometry
image; ecs_tasks/asts/entrypoint.py is the same for the local ECS runner). One chunk of
ASTs (``CLOUDPHOT_AST_CHUNK``), or with ``CLOUDPHOT_AST_STEP=products`` the field's HLSP
files and plots."""

from __future__ import annotations

import os
import sys

from ..errors import DataError
from ..worker import run_worker
from .steps import ast_chunk_job, field_products_job

__all__ = ["main"]


def _job(request: dict) -> dict:
    from ..platform import current_platform

    if os.environ.get("CLOUDPHOT_AST_STEP") == "products":
        platform = current_platform()
        return field_products_job(request, settings=platform.settings, store=platform.objects)
    if "chunk" not in request:
        chunk = os.environ.get("CLOUDPHOT_AST_CHUNK")
        if chunk is None or not chunk.isdigit():
            raise DataError(f"CLOUDPHOT_AST_CHUNK: {chunk!r} is not a chunk number")
        request["chunk"] = int(chunk)
    platform = current_platform()
    return ast_chunk_job(request, settings=platform.settings, store=platform.objects)


def main(argv: list[str] | None = None) -> int:
    from ..platform import current_platform

    return run_worker(
        _job,
        argv=sys.argv[1:] if argv is None else argv,
        open_objects=lambda settings: current_platform(settings).objects,
    )


if __name__ == "__main__":
    sys.exit(main())
