"""Fargate task sizes: the valid (cpu, memory) pairs, escalation, and per-field estimates.

ECS rejects a task whose cpu/memory pair Fargate does not offer
(``ECS.InvalidParameterException``: "No Fargate configuration exists for given
values"), so every size is checked here before a task is submitted, and an
invalid one is a :class:`~cloudphot.errors.ConfigError` naming the valid values.
Out-of-memory reruns move up this table, to more vCPUs where the memory needs
it, up to Fargate's largest task (16 vCPU, 120 GiB).

The photometry engines (DOLPHOT 2.0, and the built-in engine once the Lambda Map
has preprocessed the exposures) run one process on one core, so a task is sized
by the memory the field needs, with the fewest vCPUs that allow it: a Spot
task-hour then buys the engine's CPU-hour, not three idle cores as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

__all__ = [
    "FARGATE_SIZES",
    "MAX_SIZE",
    "FieldEstimate",
    "TaskSize",
    "attempt_timeout_s",
    "escalate",
    "estimate_field",
    "fit_size",
    "validate_size",
]

#: Fargate's task sizes (Linux, platform 1.4.0): cpu units -> the memory values (MiB)
#: allowed with it (docs: "Task CPU and memory", Amazon ECS Developer Guide)
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


@dataclass(frozen=True, order=True)
class TaskSize:
    cpu: int  # CPU units (1024 = 1 vCPU)
    memory_mib: int

    @property
    def vcpu(self) -> float:
        return self.cpu / 1024

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    def as_dict(self) -> dict[str, int]:
        return {"cpu": self.cpu, "memory_mib": self.memory_mib}


MAX_SIZE = TaskSize(16384, 122880)
_ALL = sorted(TaskSize(c, m) for c, mems in FARGATE_SIZES.items() for m in mems)


def _describe(cpu: int) -> str:
    mems = FARGATE_SIZES[cpu]
    if len(mems) <= 3:
        return f"cpu {cpu}: memory {', '.join(map(str, mems))} MiB"
    step = mems[1] - mems[0]
    return f"cpu {cpu}: memory {mems[0]}-{mems[-1]} MiB in steps of {step}"


def validate_size(cpu: int | None, memory_mib: int | None, *, where: str = "options") -> TaskSize:
    """A user's size as a valid Fargate pair, or ConfigError saying which ones exist.

    With only ``memory_mib`` the fewest vCPUs that allow it are chosen; with only
    ``cpu`` its smallest memory.
    """
    table = "; ".join(_describe(c) for c in FARGATE_SIZES)
    for name, value in (("cpu", cpu), ("memory_mib", memory_mib)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}.{name}: {value!r} is not a whole number")
    if cpu is not None and cpu not in FARGATE_SIZES:
        raise ConfigError(
            f"{where}.cpu={cpu}: Fargate offers cpu {', '.join(map(str, FARGATE_SIZES))} "
            "(1024 = 1 vCPU)"
        )
    if cpu is not None and memory_mib is None:
        return TaskSize(cpu, FARGATE_SIZES[cpu][0])
    if memory_mib is None:
        raise ConfigError(f"{where}: give cpu, memory_mib or both")
    fits = [s for s in _ALL if s.memory_mib == memory_mib and (cpu is None or s.cpu == cpu)]
    if not fits:
        with_cpu = f" with cpu {cpu}" if cpu is not None else ""
        raise ConfigError(
            f"{where}.memory_mib={memory_mib}{with_cpu} is not a Fargate task size; "
            f"valid sizes are {table}"
        )
    return min(fits)


def fit_size(memory_mib: float, *, min_cpu: int = 1024) -> TaskSize:
    """The smallest valid size with at least ``memory_mib`` and ``min_cpu`` (capped at the max)."""
    for size in sorted(_ALL, key=lambda s: (s.cpu, s.memory_mib)):
        if size.cpu >= min_cpu and size.memory_mib >= memory_mib:
            return size
    return MAX_SIZE


def escalate(size: TaskSize) -> TaskSize | None:
    """The next size after an out-of-memory failure: twice the memory, on as few vCPUs
    as allow it (never fewer than now); Fargate's largest size last; None beyond it."""
    if size >= MAX_SIZE or size.memory_mib >= MAX_SIZE.memory_mib:
        return None
    return fit_size(min(2 * size.memory_mib, MAX_SIZE.memory_mib), min_cpu=size.cpu)


@dataclass(frozen=True)
class FieldEstimate:
    """What one field's photometry needs, from its pixel count (see :func:`estimate_field`)."""

    megapixels: float
    memory_mib: float
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return {
            "megapixels": round(self.megapixels, 2),
            "memory_mib": round(self.memory_mib),
            "seconds": round(self.seconds),
        }


#: bytes of task memory per input pixel: the engines hold every chip of the field at
#: once (science, sky-subtracted copy, noise, masks, the current model: ~6 float32 or
#: bool planes) plus a PSF-subtracted copy per fitted chip, with room for the sparse
#: systems; the built-in engine's peak RSS on the demo field was ~15 B/pixel
MEMORY_BYTES_PER_PIXEL = 24.0
#: fixed memory: interpreter, libraries, PSF libraries, star lists
MEMORY_BASE_MIB = 1536.0
#: engine seconds per input megapixel at PHAT crowding: the built-in engine took 19 s
#: per megapixel on the crowded PHAT brick-09 cut-out (benchmarks/RESULTS.md, Real
#: pixels) and 4 s on the demo field; DOLPHOT with PHAT's two passes is slower
SECONDS_PER_MEGAPIXEL = 30.0
SECONDS_BASE = 600.0


def estimate_field(pixels: int) -> FieldEstimate:
    """Memory and engine time of a field whose exposures hold ``pixels`` chip pixels."""
    mpix = pixels / 1e6
    memory = MEMORY_BASE_MIB + MEMORY_BYTES_PER_PIXEL * pixels / 2**20
    return FieldEstimate(mpix, memory, SECONDS_BASE + SECONDS_PER_MEGAPIXEL * mpix)


#: one attempt may take this many times the estimate before Step Functions stops it;
#: a stopped attempt resumes from its last checkpoint
TIMEOUT_FACTOR = 3.0
TIMEOUT_MIN_S = 3600
TIMEOUT_MAX_S = 7 * 24 * 3600


def attempt_timeout_s(estimate: FieldEstimate) -> int:
    """The RunPhotometry state's timeout for this field (seconds)."""
    return int(min(TIMEOUT_MAX_S, max(TIMEOUT_MIN_S, TIMEOUT_FACTOR * estimate.seconds)))
