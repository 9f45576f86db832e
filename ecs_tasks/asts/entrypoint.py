"""Entry point of the artificial-star container: one chunk of a field's ASTs.

On AWS the photometry image runs ``python -m cloudphot.asts.worker`` (the task
definition's EntryPoint); the local ECS runner runs this file, which is the same.
The request is the run_asts plan's ``request.json`` (``CLOUDPHOT_REQUEST_BUCKET`` /
``CLOUDPHOT_REQUEST_KEY``), the chunk its index ``CLOUDPHOT_AST_CHUNK``; the logic is
in :func:`cloudphot.asts.steps.ast_chunk_job`, the protocol in :mod:`cloudphot.worker`.
"""

from __future__ import annotations

import sys

from cloudphot.asts.worker import main

if __name__ == "__main__":
    sys.exit(main())
