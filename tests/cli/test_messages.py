"""Issue 18 item 8: the console's messages for ordinary mistakes and its table widths."""

from __future__ import annotations

import json

from .conftest import no_traceback


def test_tree_since_takes_words_and_ages_and_refuses_nonsense(cli, uploaded):
    for when in ("yesterday", "12h", "3d ago", "2020-01-01"):
        ran = cli("tree", "--since", when, "--all")
        assert ran.rc == 0, ran
        assert "ingest_exposure" in ran.out, ran  # the uploads happened after each of these
    for when in ("today", "30min"):  # accepted; the template may predate them
        assert cli("tree", "--since", when).rc == 0
    ran = cli("tree", "--since", "2099-01-01")
    assert ran.rc == 0 and "nothing since 2099-01-01" in ran.out, ran

    ran = cli("tree", "--since", "last tuesday")
    assert ran.rc == 2, ran
    assert "'last tuesday' is not a time" in ran.err and "yesterday" in ran.err
    no_traceback(ran)


def test_tables_into_a_pipe_are_not_cut_to_the_terminal(cli, uploaded):
    """Piped output (a file, grep, less) keeps every column whole whatever COLUMNS says."""
    ran = cli("executions", COLUMNS="60")
    assert ran.rc == 0, ran
    names = [j["name"] for j in json.loads(cli("executions", "--json").out)]
    assert names and all(n in ran.out for n in names), ran  # full names, not 'ingest_ex…'
    assert "…" not in ran.out


def test_retry_and_replay_of_an_unknown_event_say_where_ids_are(cli):
    assert cli("init").rc == 0
    for command in (("retry", "nosuch-event"), ("replay", "nosuch-event", "--set", "engine=auto")):
        ran = cli(*command)
        assert ran.rc == 2, ran
        assert "no event 'nosuch-event' in this workspace" in ran.err, ran
        assert "table" not in ran.err and "{'event_id'" not in ran.err  # no internal key
        no_traceback(ran)
