"""Issue 18 item 8: every command's --help explains it, with examples, like astropy's
and STILTS' tools; every option says what it is and its default."""

from __future__ import annotations

import argparse
import shlex

import pytest

from cloudphot.cli import build_parser
from cloudphot.commands import helptext

from .conftest import no_traceback

PARSER = build_parser()
COMMANDS = [(path, p) for path, p in helptext.commands(PARSER)]


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[c or "cloudphot" for c, _ in COMMANDS])
def test_every_command_has_a_description_examples_and_option_help(path, parser):
    text = parser.format_help()
    assert parser.description, f"'cloudphot {path}' has no description: add one to DESCRIPTIONS"
    assert "\nexamples:\n  cloudphot " in text, (
        f"'cloudphot {path} --help' gives no examples: add them to "
        "cloudphot.commands.helptext.EXAMPLES"
    )
    bare = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not a.help and not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]
    assert not bare, f"'cloudphot {path}': options without help: {bare}"


@pytest.mark.parametrize("path", sorted(helptext.EXAMPLES), ids=lambda p: p or "cloudphot")
def test_every_example_parses(path):
    assert path == "" or path in dict(COMMANDS), f"examples for an unknown command {path!r}"
    for line, what in helptext.EXAMPLES[path]:
        assert what, line
        try:
            args = PARSER.parse_args(shlex.split(line))
        except SystemExit:
            pytest.fail(f"the example 'cloudphot {line}' does not parse")
        assert getattr(args, "func", None), line


def test_defaults_and_units_are_shown(cli):
    ran = cli("cone", "--help", workdir=False)
    assert ran.rc == 0, ran
    no_traceback(ran)
    assert "right ascension: degrees (10.68) or hours (00:42:43.2" in ran.out
    assert "row limit per query (default: 100000)" in ran.out
    assert "per-query timeout, seconds (default: 60.0)" in ran.out
    assert "  cloudphot cone 00:42:43.2 +41:16:12 0.5arcmin\n" in ran.out
    ran = cli("executions", "--help", workdir=False)
    assert "newest N executions (default: 50)" in ran.out, ran


def test_catalog_build_takes_only_its_own_options(cli):
    ran = cli("catalog", "build", "--timeout", "3", workdir=False)
    assert ran.rc == 2 and "unrecognized arguments: --timeout 3" in ran.err, ran
    for options in (["--max-rows"], ["--timeout"], ["--catalog-version"]):
        help_text = PARSER.parse_known_args(["catalog", "build"])[0]
        assert not hasattr(help_text, options[0].lstrip("-").replace("-", "_")), options
