"""Issue 18 item 8: the console's messages for ordinary mistakes and its table widths."""

from __future__ import annotations

import json

from .conftest import no_traceback


def test_tree_since_takes_words_and_ages_and_refuses_nonsense(cli, small_field):
    assert cli("upload", small_field).rc == 0
    for when in ("yesterday", "today", "2h", "30min", "3d ago", "2020-01-01"):
        ran = cli("tree", "--since", when, "--all")
        assert ran.rc == 0, ran
        assert "ingest_exposure" in ran.out, ran  # the uploads happened after each of these
    ran = cli("tree", "--since", "2099-01-01")
    assert ran.rc == 0 and "nothing since 2099-01-01" in ran.out, ran

    ran = cli("tree", "--since", "last tuesday")
    assert ran.rc == 2, ran
    assert "'last tuesday' is not a time" in ran.err and "yesterday" in ran.err
    no_traceback(ran)


def test_tables_into_a_pipe_are_not_cut_to_the_terminal(cli, small_field):
    """Piped output (a file, grep, less) keeps every column whole whatever COLUMNS says."""
    assert cli("upload", small_field).rc == 0
    ran = cli("executions", COLUMNS="60")
    assert ran.rc == 0, ran
    names = [j["name"] for j in json.loads(cli("executions", "--json").out)]
    assert names and all(n in ran.out for n in names), ran  # full names, not 'ingest_ex…'
    assert "…" not in ran.out
