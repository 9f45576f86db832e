"""Issue 18 items 1, 2 and 8 (truth.fits): the quickstart ends in a catalog or says what next."""

from __future__ import annotations

import json

import pytest

from .conftest import no_traceback


def _raw(ws):
    return ws / "buckets" / "raw"


def test_exposures_without_manifest_say_which_manifest_to_upload(cli, ws, small_field):
    ran = cli("upload", small_field)
    assert ran.rc == 0, ran
    assert "uploaded 4 object(s)" in ran.out
    assert "field cli-field: 4 exposure(s) registered, waiting for manifest" in ran.out, ran
    assert "manifests/cli-field.json" in ran.out
    assert f"cloudphot --workdir {ws} manifest cli-field" in ran.out

    for command in ("status", "tree"):
        ran = cli(command)
        assert ran.rc == 0, ran
        assert "waiting for manifest manifests/cli-field.json" in ran.out, ran
        assert "manifest cli-field" in ran.out

    status = json.loads(cli("status", "--json").out)
    (field,) = status["fields"]
    assert field["stage"] == "waiting for manifest" and field["registered"] == 4


def test_manifest_command_builds_it_from_the_registered_exposures(cli, ws, uploaded, tmp_path):

    ran = cli("manifest", "nosuch-field")
    assert ran.rc == 2, ran
    assert "no registered exposure belongs to field 'nosuch-field'" in ran.err
    assert "fields with registered exposures: cli-field" in ran.err
    no_traceback(ran)

    ran = cli("manifest", "cli-field", "-o", tmp_path / "m.json")
    assert ran.rc == 0, ran
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc == {
        "field_id": "cli-field",
        "exposures": ["jcli00aaq", "jcli01aaq", "jcli02aaq", "jcli03aaq"],
    }
    assert not (_raw(ws) / "manifests").exists()  # -o writes a file, uploads nothing

    ran = cli("manifest", "cli-field", "--no-run")
    assert ran.rc == 0, ran
    assert "uploaded manifests/cli-field.json: field cli-field, 4 registered exposure(s)" in ran.out
    assert json.loads((_raw(ws) / "manifests" / "cli-field.json").read_text()) == doc

    ran = cli("manifest", "cli-field", "--no-run")
    assert ran.rc == 2 and "already has a manifest" in ran.err and "--replace" in ran.err, ran
    assert cli("manifest", "cli-field", "--no-run", "--replace").rc == 0


def test_manifest_in_a_workspace_that_has_none(cli):
    ran = cli("manifest", "cli-field")
    assert ran.rc == 2 and "run 'cloudphot init' first" in ran.err, ran
    no_traceback(ran)


def test_upload_prefix_is_a_folder_and_json_is_checked(cli, ws, tmp_path):
    good = tmp_path / "cli-field.json"
    good.write_text(json.dumps({"field_id": "cli-field", "exposures": ["jcli00aaq"]}))

    ran = cli("upload", "--prefix", "manifests", good, "--no-run")
    assert ran.rc == 0, ran
    assert (_raw(ws) / "manifests" / "cli-field.json").is_file()
    assert not list(_raw(ws).glob("manifests*.json"))
    assert "warning" not in ran.out  # it triggers check_field_manifest

    other = tmp_path / "M.json"
    other.write_text(json.dumps({"field_id": "other-field", "exposures": ["jcli00aaq"]}))
    ran = cli("upload", other, "--no-run")  # no prefix: where check_field looks for it
    assert ran.rc == 0, ran
    assert (_raw(ws) / "manifests" / "other-field.json").is_file()

    ran = cli("upload", "--prefix", "manifests/", other, "--no-run")
    assert ran.rc == 2, ran
    assert "belongs at manifests/other-field.json, not manifests/M.json" in ran.err
    assert "upload it without --prefix" in ran.err and "or name it other-field.json" in ran.err

    bad = tmp_path / "bad.json"
    bad.write_text('{"field_id": "x", "exposures": [')
    ran = cli("upload", bad)
    assert ran.rc == 2 and "nothing uploaded" in ran.err and "not JSON" in ran.err, ran
    no_traceback(ran)


def test_upload_warns_when_no_task_takes_the_file(cli, ws, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("observing log")
    ran = cli("upload", notes, "--no-run")
    assert ran.rc == 0, ran
    assert "warning: notes.txt matches no registered task, so nothing will process it" in ran.out


def test_upload_of_a_folder_skips_what_is_not_an_exposure(cli, ws, small_field):
    (small_field / "truth.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    (small_field / "README.txt").write_text("what the simulator wrote")
    ran = cli("upload", small_field, "--no-run")
    assert ran.rc == 0, ran
    assert "skipped 2 file(s) that are neither exposures" in ran.out
    assert "README.txt, truth.fits" in ran.out and "--all uploads them" in ran.out
    assert "uploaded 4 object(s)" in ran.out
    assert not (_raw(ws) / "truth.fits").exists()


def test_upload_of_a_pattern_the_shell_did_not_expand(cli, tmp_path):
    ran = cli("upload", tmp_path / "nothing" / "*_flc.fits")
    assert ran.rc == 2, ran
    assert "no such file or folder (the shell found no file matching this pattern)" in ran.err
    no_traceback(ran)


@pytest.mark.slow
def test_readme_quickstart_ends_in_a_catalog(cli, ws, tiny_sim):
    """The README's three commands, verbatim but for the workspace: simulate, upload, status."""
    sim, ran = tiny_sim
    assert (sim / "manifests" / "sim-tiny-s0.json").is_file()
    assert f"next: cloudphot upload {sim}" in ran.out

    ran = cli("upload", sim)
    assert ran.rc == 0, ran
    assert "skipped 1 file(s)" in ran.out and "truth.fits" in ran.out
    assert "uploaded 9 object(s) to the raw bucket, 1 of them manifest(s)" in ran.out
    assert "field sim-tiny-s0: in the catalog" in ran.out, ran

    ran = cli("status")
    assert ran.rc == 0, ran
    assert "field sim-tiny-s0: in the catalog (" in ran.out and "phat_v2/v1" in ran.out
    assert "FAILED" not in ran.out and "rejected" not in ran.out
