"""Shared fixtures for the ASL interpreter tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def moto_sfn():
    """One moto account executing state machines, shared by all conformance cases."""
    from .moto_runner import MotoRunner

    with MotoRunner() as runner:
        yield runner


class FakeSleep:
    """Records requested sleeps instead of sleeping (for Wait and Retry backoff)."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()
