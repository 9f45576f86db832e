"""Stage checkpoints of a long worker job, kept in the object store.

A crowded field's photometry runs for hours; a Spot reclaim, an out-of-memory
rerun or a timeout would otherwise start it from scratch. At each stage
boundary the worker saves what the next stages need (arrays as ``.npz``, or a
set of files as a tar); a retried task with the same inputs, options and
cloudphot version finds them and resumes after the last finished stage. Every
object is written atomically, so a checkpoint is either there and whole or not
there at all. They live under ``checkpoints/`` (``products.keys.field_checkpoint``),
which the products bucket's lifecycle rule expires: the worker needs no delete
permission and a finished job's checkpoints go by themselves.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ObjectNotFound

__all__ = ["Checkpoints"]


class Checkpoints:
    """Checkpoints of one job in ``bucket``; ``key_for(stage)`` is a stage's object key."""

    def __init__(self, store, bucket: str, key_for) -> None:
        self.store, self.bucket, self.key_for = store, bucket, key_for
        #: stages found and used this run, and stages saved this run (the job reports both)
        self.resumed: list[str] = []
        self.saved: list[str] = []

    def _get(self, stage: str) -> bytes | None:
        try:
            data = self.store.get_bytes(self.bucket, self.key_for(stage))
        except ObjectNotFound:
            return None
        self.resumed.append(stage)
        return data

    def _put(self, stage: str, data: bytes) -> None:
        self.store.put_bytes(self.bucket, self.key_for(stage), data)
        self.saved.append(stage)

    # arrays ----------------------------------------------------------------------
    def load_arrays(self, stage: str) -> dict[str, np.ndarray] | None:
        data = self._get(f"{stage}.npz")
        if data is None:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def save_arrays(self, stage: str, arrays: Mapping[str, object]) -> None:
        buf = io.BytesIO()
        named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez(buf, **named)
        self._put(f"{stage}.npz", buf.getvalue())

    # files -----------------------------------------------------------------------
    # files (streamed through a temporary tar next to them: chips are large) ---------
    def restore_files(self, stage: str, directory: Path) -> list[Path] | None:
        """Unpack a stage's files into ``directory``; None when the stage was not saved."""
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            archive = Path(tmp) / "stage.tar"
            try:
                self.store.download(self.bucket, self.key_for(f"{stage}.tar"), archive)
            except ObjectNotFound:
                return None
            with tarfile.open(archive) as tar:
                tar.extractall(directory, filter="data")
                names = [m.name for m in tar.getmembers() if m.isfile()]
        self.resumed.append(f"{stage}.tar")
        return [directory / n for n in names]

    def save_files(self, stage: str, paths: Iterable[Path]) -> None:
        paths = [Path(p) for p in paths]
        with tempfile.TemporaryDirectory(dir=paths[0].parent if paths else None) as tmp:
            archive = Path(tmp) / "stage.tar"
            with tarfile.open(archive, mode="w") as tar:
                for path in paths:
                    tar.add(path, arcname=path.name)
            self.store.put_file(self.bucket, self.key_for(f"{stage}.tar"), archive)
        self.saved.append(f"{stage}.tar")
