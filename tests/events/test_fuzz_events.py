"""Property-based fuzzing of events (Hypothesis, fixed seed and budget; issue 14.4).

The corpus in ``test_malformed_events`` replaces one field at a time with a fixed
list of wrong values; here Hypothesis builds whole JSON documents (nested objects
and lists, lone surrogates, NUL, huge numbers, long keys) and grafts one to three of
them anywhere inside a valid request, or sends one instead of the request. The
outcomes allowed are the same: a step returns or raises one of cloudphot's named
errors; the dispatcher dispatches a stored event or sets it aside with a named
error, and never raises. ``CLOUDPHOT_FUZZ_EXAMPLES`` raises the budget.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_malformed_events import _event, _paths, _set, _steps

from cloudphot.errors import CloudphotError

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a bounded budget in CI

EXAMPLES = int(os.environ.get("CLOUDPHOT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the seed is fixed: CI runs the same examples every time
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\udc80", "a\x00b", "../../x", "é" * 600, "m31-f1", "raw", "products"]),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)
JSON = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)
STEPS = sorted(_steps())


def _graft(valid, picks, values):
    """Replace (or, for a None value drawn with ``remove``, delete) the picked paths."""
    request = valid
    for (pick, remove), value in zip(picks, values, strict=True):
        paths = [p for p, _ in _paths(request)]
        if not paths:
            return value
        request = _set(request, paths[pick % len(paths)], value, remove=remove)
    return request


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings

    settings_ = Settings.from_env(home=tmp_path_factory.mktemp("ws"), backend="local", env={})
    return LocalPlatform(settings_).services


@FUZZ
@given(
    step=st.sampled_from(STEPS),
    whole=st.booleans(),
    picks=st.lists(st.tuples(st.integers(0, 200), st.booleans()), min_size=1, max_size=3),
    values=st.lists(JSON, min_size=3, max_size=3),
)
def test_every_step_returns_or_names_its_error(svc, step, whole, picks, values):
    fn, valid = _steps()[step]
    request = values[0] if whole else _graft(valid, picks, values[: len(picks)])
    try:
        fn(request, svc)
    except CloudphotError as exc:
        assert str(exc).strip()


class _Starter:
    def start(self, job):
        return None


@FUZZ
@given(
    type_=st.one_of(
        st.sampled_from(["object.created", "exposure.registered", "field.reduced"]), _text
    ),
    payload=st.one_of(JSON, JSON.map(json.dumps), _text),
    extra=st.dictionaries(st.sampled_from(["subject", "source", "created_at"]), JSON, max_size=3),
)
def test_the_dispatcher_never_raises(svc, type_, payload, extra):
    from cloudphot.events import Dispatcher, load_registry

    item = {**_event(type_, payload), **extra}
    digest = hashlib.sha256(repr((type_, payload, extra)).encode("utf-8", "surrogatepass"))
    item["event_id"] = f"fuzz-{digest.hexdigest()[:16]}"
    try:
        svc.tables.put("events", item)
    except CloudphotError:
        return  # not storable (the tables refuse it): never reaches a dispatcher
    Dispatcher(svc.store, load_registry(), _Starter()).dispatch_item(item)
    stored = svc.tables.get("events", item["event_id"])
    letter = svc.tables.get("dead_letters", item["event_id"])
    assert stored["dispatched_at"]
    if letter:
        assert letter["error"] and letter["cause"]
