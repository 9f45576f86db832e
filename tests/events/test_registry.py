import pytest

from cloudphot.errors import InvalidTaskRegistry
from cloudphot.events import Event, load_registry


def _event(key, role="raw", type_="object.created"):
    return Event(
        event_id="e1",
        type=type_,
        subject=key,
        payload={"bucket": "raw", "key": key, "bucket_role": role, "etag": "x", "size": 1},
    )


def test_packaged_registry_routes_raw_fits_uploads_to_ingest():
    reg = load_registry()
    assert [t.name for t in reg.triggered_by(_event("a/j9ec41aiq_flc.fits"))] == ["ingest_exposure"]
    assert reg.triggered_by(_event("notes.txt")) == []
    assert reg.triggered_by(_event("x_flc.fits", role="products")) == []
    assert [t.name for t in reg.triggered_by(_event("x", type_="exposure.registered"))] == [
        "check_field"
    ]
    assert [t.name for t in reg.triggered_by(_event("manifests/m31-b15-f09.json"))] == [
        "check_field_manifest"
    ]
    assert [t.name for t in reg.triggered_by(_event("f", type_="field.ready"))] == ["reduce_field"]


def test_registry_round_trips_through_tables(tmp_path):
    from cloudphot.runtime.sqlite_tables import SQLiteTables

    tables = SQLiteTables(tmp_path / "t.sqlite")
    reg = load_registry()
    reg.save(tables)
    from cloudphot.events import Registry

    again = Registry.from_tables(tables)
    assert {t.name: t for t in again} == {t.name: t for t in reg}


@pytest.mark.parametrize(
    "text, match",
    [
        ("[[task]]\nname='a'\n", "missing field 'trigger'"),
        ("[[task]]\nname='a'\ntrigger='x'\nexecutor={kind='vm', name='b'}\n", "executor must be"),
        (
            "[[task]]\nname='a'\ntrigger='x'\nexecutor={kind='lambda', name='b'}\n"
            "[[task]]\nname='a'\ntrigger='y'\nexecutor={kind='lambda', name='b'}\n",
            "registered twice",
        ),
        ("[[task]\n", "not valid TOML"),
        (
            "[[task]]\nname='a'\ntrigger='x'\nexecutor={kind='lambda', name='b'}\ncondition='yes'\n",
            "condition must be",
        ),
    ],
)
def test_malformed_registry_files_are_refused_with_the_reason(tmp_path, text, match):
    path = tmp_path / "tasks.toml"
    path.write_text(text)
    with pytest.raises(InvalidTaskRegistry, match=match):
        load_registry(path)


def test_missing_registry_file_names_the_file(tmp_path):
    with pytest.raises(InvalidTaskRegistry, match="nope.toml"):
        load_registry(tmp_path / "nope.toml")
