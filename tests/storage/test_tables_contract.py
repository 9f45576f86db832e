"""The Tables contract, run against SQLite and DynamoDB (moto)."""

from __future__ import annotations

import math
import threading

import pytest

from cloudphot.errors import ConditionFailed, ConfigError, ItemNotFound, StorageError


def event(event_id: str, **attrs):
    return {"event_id": event_id, **attrs}


def test_put_get_replace(tables):
    assert tables.get("events", "e1") is None
    tables.put("events", event("e1", type="object_created", created_at="2026-01-01T00:00:00Z"))
    assert tables.get("events", "e1") == {
        "event_id": "e1",
        "type": "object_created",
        "created_at": "2026-01-01T00:00:00Z",
    }
    tables.put("events", event("e1", type="other"))  # replaces the whole item
    assert tables.get("events", "e1") == {"event_id": "e1", "type": "other"}


def test_put_if_absent(tables):
    tables.put("jobs", {"job_id": "j1", "state": "PENDING"}, if_absent=True)
    with pytest.raises(ConditionFailed, match="j1"):
        tables.put("jobs", {"job_id": "j1", "state": "RUNNING"}, if_absent=True)
    assert tables.get("jobs", "j1") == {"job_id": "j1", "state": "PENDING"}


def test_key_must_be_a_non_empty_string(tables):
    for bad in ({"state": "x"}, {"job_id": ""}, {"job_id": 5}, {"job_id": None}):
        with pytest.raises(StorageError, match="job_id"):
            tables.put("jobs", bad)


def test_unknown_table_is_a_config_error(tables):
    with pytest.raises(ConfigError, match="nope"):
        tables.get("nope", "k")


def test_update_sets_and_returns_the_new_item(tables):
    tables.put("jobs", {"job_id": "j1", "state": "PENDING", "event_id": "e1"})
    # reserved words everywhere: state, name, type, size, status, count, date
    new = tables.update(
        "jobs",
        "j1",
        {
            "state": "RUNNING",
            "name": "n",
            "type": "t",
            "size": 3,
            "status": {"host": "worker-1"},
            "date": None,
        },
    )
    assert new == {
        "job_id": "j1",
        "state": "RUNNING",
        "event_id": "e1",
        "name": "n",
        "type": "t",
        "size": 3,
        "status": {"host": "worker-1"},
        "date": None,
    }
    assert tables.get("jobs", "j1") == new


def test_update_increment(tables):
    tables.put("jobs", {"job_id": "j1", "attempts": 2})
    assert tables.update("jobs", "j1", {}, increment={"attempts": 1, "count": 5})["attempts"] == 3
    item = tables.update("jobs", "j1", {"state": "RUNNING"}, increment={"seconds": 1.5})
    assert item == {"job_id": "j1", "attempts": 3, "count": 5, "state": "RUNNING", "seconds": 1.5}
    assert tables.update("jobs", "j1", {}, increment={"count": -5})["count"] == 0


def test_update_increment_of_a_non_number_fails(tables):
    tables.put("jobs", {"job_id": "j1", "state": "PENDING"})
    with pytest.raises(StorageError):
        tables.update("jobs", "j1", {}, increment={"state": 1})
    assert tables.get("jobs", "j1") == {"job_id": "j1", "state": "PENDING"}


def test_update_expect(tables):
    tables.put("jobs", {"job_id": "j1", "state": "PENDING", "attempts": 1, "owner": None})
    new = tables.update(
        "jobs",
        "j1",
        {"state": "RUNNING"},
        expect={"state": "PENDING", "attempts": 1.0, "lease": None},
    )
    assert new["state"] == "RUNNING"
    with pytest.raises(ConditionFailed, match="state"):
        tables.update("jobs", "j1", {"state": "RUNNING", "host": "h"}, expect={"state": "PENDING"})
    with pytest.raises(ConditionFailed, match="attempts"):
        tables.update("jobs", "j1", {"host": "h"}, expect={"attempts": 2})
    with pytest.raises(ConditionFailed, match="missing"):
        tables.update("jobs", "j1", {"host": "h"}, expect={"missing": "x"})
    with pytest.raises(ConditionFailed, match="owner"):
        # None means absent; an attribute holding null is present
        tables.update("jobs", "j1", {"host": "h"}, expect={"owner": None})
    assert tables.get("jobs", "j1") == {
        "job_id": "j1",
        "state": "RUNNING",
        "attempts": 1,
        "owner": None,
    }


def test_update_of_a_missing_item(tables):
    with pytest.raises(ItemNotFound) as err:
        tables.update("jobs", "nope", {"state": "RUNNING"})
    assert err.value.key == {"job_id": "nope"} and "nope" in str(err.value)
    # a missing item is ItemNotFound even when an expectation would fail too
    with pytest.raises(ItemNotFound):
        tables.update("jobs", "nope", {"state": "RUNNING"}, expect={"state": "PENDING"})
    with pytest.raises(ItemNotFound):
        tables.update("jobs", "nope", {}, increment={"n": 1})
    assert tables.get("jobs", "nope") is None


def test_update_refuses_what_dynamodb_refuses(tables):
    tables.put("jobs", {"job_id": "j1", "n": 1})
    with pytest.raises(StorageError, match="key"):
        tables.update("jobs", "j1", {"job_id": "j2"})
    with pytest.raises(StorageError, match="n"):
        tables.update("jobs", "j1", {"n": 5}, increment={"n": 1})
    with pytest.raises(StorageError, match="nothing"):
        tables.update("jobs", "j1", {})
    with pytest.raises(StorageError, match="state"):
        tables.update("jobs", "j1", {"state": {"nested": 1}})  # index key must be scalar
    assert tables.get("jobs", "j1") == {"job_id": "j1", "n": 1}


def _events(tables):
    rows = [
        ("e3", "object_created", "2026-01-03"),
        ("e1", "object_created", "2026-01-01"),
        ("e5", "object_created", "2026-01-05"),
        ("e2", "object_created", "2026-01-02"),
        ("e4", "object_created", "2026-01-04"),
        ("x1", "photometry_done", "2026-01-01"),
    ]
    for eid, etype, created in rows:
        tables.put("events", event(eid, type=etype, created_at=created, subject=f"s/{eid}"))


def test_query_order_limit_descending(tables):
    _events(tables)
    ids = lambda items: [i["event_id"] for i in items]
    assert ids(tables.query("events", "by_type", "object_created")) == [
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
    ]
    assert ids(tables.query("events", "by_type", "object_created", descending=True)) == [
        "e5",
        "e4",
        "e3",
        "e2",
        "e1",
    ]
    assert ids(tables.query("events", "by_type", "object_created", limit=2)) == ["e1", "e2"]
    assert ids(tables.query("events", "by_type", "object_created", limit=2, descending=True)) == [
        "e5",
        "e4",
    ]
    assert ids(tables.query("events", "by_type", "object_created", limit=50)) == [
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
    ]
    assert ids(tables.query("events", "by_type", "photometry_done")) == ["x1"]
    assert tables.query("events", "by_type", "never") == []
    assert ids(tables.query("events", "by_subject", "s/e3")) == ["e3"]
    # whole items come back, not just the index's attributes
    assert tables.query("events", "by_type", "photometry_done")[0] == event(
        "x1", type="photometry_done", created_at="2026-01-01", subject="s/x1"
    )


def test_query_numeric_sort_key_orders_by_value(tables):
    for i, mjd in enumerate([60000.5, 9.25, 100, 60000.25]):
        tables.put("exposures", {"exposure_id": f"x{i}", "field_id": "f1", "mjd": mjd})
    assert [e["mjd"] for e in tables.query("exposures", "by_field", "f1")] == [
        9.25,
        100,
        60000.25,
        60000.5,
    ]


def test_items_without_index_attributes_are_absent_from_the_index(tables):
    tables.put("events", event("full", type="t", created_at="1"))
    tables.put("events", event("no_sort", type="t"))
    tables.put("events", event("no_part", created_at="2"))
    tables.put("events", event("neither"))
    assert [i["event_id"] for i in tables.query("events", "by_type", "t")] == ["full"]
    assert tables.get("events", "no_sort") == event("no_sort", type="t")
    # an update that supplies the missing attribute puts the item into the index
    tables.update("events", "no_sort", {"created_at": "0"})
    assert [i["event_id"] for i in tables.query("events", "by_type", "t")] == ["no_sort", "full"]
    # and replacing the item without it takes it out again
    tables.put("events", event("full", type="other-type-now"))
    assert [i["event_id"] for i in tables.query("events", "by_type", "t")] == ["no_sort"]


def test_index_key_attributes_must_be_scalars(tables):
    for bad in ({"x": 1}, [1], True, ""):
        with pytest.raises(StorageError, match="type"):
            tables.put("events", event("e", type=bad, created_at="1"))
    assert tables.get("events", "e") is None


def test_query_errors(tables):
    with pytest.raises(StorageError, match="no index 'nope'"):
        tables.query("events", "nope", "x")
    with pytest.raises(StorageError, match="limit"):
        tables.query("events", "by_type", "x", limit=0)


def test_scan_and_delete(tables):
    _events(tables)
    assert sorted(i["event_id"] for i in tables.scan("events")) == [
        "e1",
        "e2",
        "e3",
        "e4",
        "e5",
        "x1",
    ]
    assert list(tables.scan("jobs")) == []
    tables.delete("events", "e3")
    tables.delete("events", "e3")  # absent: no error
    assert tables.get("events", "e3") is None
    assert sorted(i["event_id"] for i in tables.scan("events")) == ["e1", "e2", "e4", "e5", "x1"]
    assert "e3" not in [i["event_id"] for i in tables.query("events", "by_type", "object_created")]


def test_json_values_round_trip(tables):
    item = {
        "job_id": "j1",
        "int": 7,
        "big": 2**62 + 1,
        "neg": -3,
        "zero": 0,
        "float": 0.1,
        "small": 1e-7,
        "precise": 123456789.123456,
        "neg_float": -2.5,
        "true": True,
        "false": False,
        "none": None,
        "text": 'ünïcode ✓ "quoted" \\ back',
        "empty_text": "",
        "list": [1, 2.5, "three", None, True, [4, {"five": 5}]],
        "empty_list": [],
        "map": {"a": {"b": {"c": [0.5]}}, "state": "reserved word as map key"},
        "empty_map": {},
    }
    tables.put("jobs", item)
    back = tables.get("jobs", "j1")
    assert back == item

    def types(v):
        if isinstance(v, dict):
            return {k: types(x) for k, x in v.items()}
        if isinstance(v, list):
            return [types(x) for x in v]
        return type(v).__name__

    assert types(back) == types(item)  # int stays int, float stays float, bool stays bool


def test_integral_float(tables, request):
    tables.put("jobs", {"job_id": "j1", "x": 2.0})
    x = tables.get("jobs", "j1")["x"]
    assert x == 2.0
    # documented difference: DynamoDB does not keep a number's type, SQLite (JSON) does
    expected = float if "local" in request.node.callspec.id else int
    assert type(x) is expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(tables, bad):
    with pytest.raises(StorageError, match=r"(?i)nan|inf"):
        tables.put("jobs", {"job_id": "j1", "x": bad})
    with pytest.raises(StorageError, match=r"deep\.list\[1\]"):
        tables.put("jobs", {"job_id": "j1", "deep": {"list": [1.0, bad]}})
    assert tables.get("jobs", "j1") is None
    tables.put("jobs", {"job_id": "j1", "x": 1})
    with pytest.raises(StorageError):
        tables.update("jobs", "j1", {"x": bad})
    with pytest.raises(StorageError):
        tables.update("jobs", "j1", {}, increment={"x": bad})
    assert tables.get("jobs", "j1") == {"job_id": "j1", "x": 1}


def test_unsupported_types_are_refused(tables):
    import datetime

    for bad in (b"bytes", {1, 2}, datetime.date(2026, 1, 1), object()):
        with pytest.raises(StorageError, match="type"):
            tables.put("jobs", {"job_id": "j1", "x": bad})


def _race(n, fn):
    start = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        start.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_put_if_absent_exactly_one_wins(tables):
    results = _race(16, lambda i: tables.put("events", event("dup", writer=i), if_absent=True))
    winners = [i for i, r in enumerate(results) if r is None]
    losers = [r for r in results if r is not None]
    assert len(winners) == 1
    assert len(losers) == 15 and all(isinstance(r, ConditionFailed) for r in losers)
    assert tables.get("events", "dup")["writer"] == winners[0]


def _dynamodb_calls(tables) -> list[tuple[str, dict]] | None:
    """On the DynamoDB adapter, record the API calls it makes (None on SQLite).

    moto does not apply concurrent writes atomically in every version (5.2.5 returns
    the same ADD result to two racing threads), while DynamoDB guarantees it; what
    the adapter owes is to use the atomic forms, so that is checked on the wire.
    """
    client = getattr(tables, "client", None)
    if client is None:
        return None
    calls: list[tuple[str, dict]] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.*",
        lambda params, model, **kw: calls.append((model.name, params)),
    )
    return calls


def test_racing_increments_all_count(tables):
    tables.put("jobs", {"job_id": "counter", "n": 0})
    calls = _dynamodb_calls(tables)
    if calls is not None:
        tables.update("jobs", "counter", {}, increment={"n": 1})
        ops = [name for name, _ in calls]
        assert ops == ["UpdateItem"], "an increment must be one atomic UpdateItem"
        assert "ADD " in calls[0][1]["UpdateExpression"].upper()
        assert tables.get("jobs", "counter")["n"] == 1
        return

    def bump(i):  # several rounds per thread, so the read-modify-writes really overlap
        return [tables.update("jobs", "counter", {}, increment={"n": 1})["n"] for _ in range(10)]

    results = _race(16, bump)
    assert not [r for r in results if isinstance(r, Exception)]
    # every increment saw a distinct value: none was lost or applied twice
    assert sorted(n for r in results for n in r) == list(range(1, 161))
    assert tables.get("jobs", "counter")["n"] == 160


def test_racing_compare_and_set_one_wins(tables):
    tables.put("jobs", {"job_id": "j", "state": "PENDING"})
    calls = _dynamodb_calls(tables)
    if calls is not None:
        tables.update("jobs", "j", {"state": "RUNNING", "owner": 0}, expect={"state": "PENDING"})
        (name, params), *_ = calls
        assert name == "UpdateItem" and "ConditionExpression" in params
        with pytest.raises(ConditionFailed):
            tables.update(
                "jobs", "j", {"state": "RUNNING", "owner": 1}, expect={"state": "PENDING"}
            )
        assert tables.get("jobs", "j")["owner"] == 0
        return
    results = _race(
        8,
        lambda i: tables.update(
            "jobs", "j", {"state": "RUNNING", "owner": i}, expect={"state": "PENDING"}
        ),
    )
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1
    assert all(isinstance(r, ConditionFailed) for r in results if not isinstance(r, dict))
    assert tables.get("jobs", "j")["owner"] == winners[0]["owner"]
