"""One rule each: field ids, branch names, throttling codes, worker exit codes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cloudphot.errors import DataError, InvalidEvent
from cloudphot.products import (
    branch_for,
    check_branch,
    check_field_id,
    field_id_from_target,
    keys,
)
from cloudphot.validate import BRANCH_RE, FIELD_ID_RE

SRC = Path(__file__).resolve().parents[2] / "src" / "cloudphot"
GOOD_IDS = ["m31-b15-f09", "ngc1644", "a", "m31_b01.f01+x", "x" * 64]
BAD_IDS = ["M31-B15-F09", "", "-m31", "m31/b15", "x" * 65, "m31 b15", "ü", None, 7]


@pytest.mark.parametrize(
    "targname",
    ["M31-B15-F09", "  NGC 1644 / east ", "", None, "---", "Ä" * 3, "a" * 62 + "-b"],
)
def test_every_short_targname_becomes_a_valid_field_id(targname):
    """(A TARGNAME normalising to more than 64 characters is refused by read_exposure.)"""
    assert FIELD_ID_RE.match(field_id_from_target(targname))


@pytest.mark.parametrize("fid", GOOD_IDS)
def test_a_field_id_is_accepted_everywhere(fid, tmp_path):
    from cloudphot.dolphot.job import parse_request

    assert check_field_id(fid, "t") == fid
    assert keys.field_catalog(fid).startswith(f"fields/{fid}/")
    request = {"field_id": fid, "exposures": [{"bucket": "raw", "key": "a_flc.fits"}]}
    assert parse_request(request)["field_id"] == fid
    assert _manifest_field_id(fid, tmp_path) == fid


@pytest.mark.parametrize("fid", BAD_IDS)
def test_a_bad_field_id_is_refused_everywhere_with_the_same_rule(fid, tmp_path):
    from cloudphot.dolphot.job import parse_request

    with pytest.raises(DataError, match="not a field id"):
        check_field_id(fid, "t")
    with pytest.raises(DataError, match="not a field id"):
        keys.field_catalog(fid)
    with pytest.raises(DataError, match="request.field_id.*not a field id"):
        parse_request({"field_id": fid, "exposures": [{"bucket": "raw", "key": "a_flc.fits"}]})
    with pytest.raises(InvalidEvent, match="field_id"):  # a non-string: "must be a string"
        _manifest_field_id(fid, tmp_path)


@pytest.mark.parametrize("branch", ["b-0123456789", "cosmics.5", "x" * 40])
def test_a_branch_is_accepted_everywhere(branch):
    assert BRANCH_RE.match(branch) and check_branch(branch, "t") == branch
    assert keys.field_catalog("f1", branch).startswith(f"branches/{branch}/")


@pytest.mark.parametrize("branch", ["B1", "x" * 41, "a/b", "-a", "a+b", ""])
def test_a_bad_branch_is_refused_by_keys_and_workers_alike(branch):
    from cloudphot.dolphot.job import parse_request

    with pytest.raises(DataError, match="branch"):
        check_branch(branch, "t")
    if branch:  # an empty branch is no branch
        with pytest.raises(DataError, match="branch"):
            keys.field_catalog("f1", branch)
    request = {"field_id": "f1", "exposures": [{"bucket": "r", "key": "a.fits"}], "branch": branch}
    with pytest.raises(DataError, match="branch"):
        parse_request(request)


def test_the_default_branch_is_a_branch_and_depends_only_on_the_options():
    a = branch_for({"photometry": {"cosmic_sigclip": 5}, "engine": "builtin"})
    assert a == branch_for({"engine": "builtin", "photometry": {"cosmic_sigclip": 5}})
    assert BRANCH_RE.match(a) and a != branch_for({"engine": "builtin"})


def _manifest_field_id(fid, tmp_path):
    import json

    from cloudphot.pipeline.fields import read_manifest
    from cloudphot.pipeline.services import Services
    from cloudphot.runtime.local_objects import LocalObjectStore
    from cloudphot.settings import Settings

    store = LocalObjectStore(tmp_path / "b")
    doc = {"field_id": fid, "exposures": ["jaaa01aaq"]}
    store.put_bytes("raw", "manifests/m.json", json.dumps(doc).encode())
    svc = Services(Settings(home=tmp_path), store, None)  # type: ignore[arg-type]
    return read_manifest(svc, "m", key="manifests/m.json")["field_id"]


def _constants(tree: ast.AST) -> list[tuple[int, object]]:
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant)]


def test_throttling_codes_are_listed_once_per_service():
    """Only aws/codes.py names AWS's throttling codes; adapters ask it."""
    markers = {"ThrottlingException", "SlowDown", "ProvisionedThroughputExceededException"}
    elsewhere = [
        f"{p.relative_to(SRC)}:{line}: {value}"
        for p in sorted(SRC.rglob("*.py"))
        if p.name != "codes.py"
        for line, value in _constants(ast.parse(p.read_text()))
        if value in markers
    ]
    assert not elsewhere, "\n".join(elsewhere)


def test_worker_exit_codes_come_from_the_worker_protocol():
    """137, 143, 75 and 3 are compared with an exit code only as worker.EXIT_* names."""
    found = []
    for p in sorted(SRC.rglob("*.py")):
        if p.name == "worker.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Compare):
                names = [ast.unparse(x) for x in (node.left, *node.comparators)]
                if any("code" in n.lower() or "returncode" in n for n in names) and any(
                    isinstance(x, ast.Constant) and x.value in (3, 75, 137, 143)
                    for x in (node.left, *node.comparators)
                ):
                    found.append(f"{p.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "\n".join(found)
