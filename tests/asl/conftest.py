"""Shared fixtures for the ASL interpreter tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def moto_sfn():
    """One moto account executing state machines, shared by a module's conformance cases.

    Module scope, not session: while this mock is active every other ``mock_aws()``
    nests inside it and does not reset its state on exit, which would leak moto
    resources into unrelated tests run later in the session.
    """
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
