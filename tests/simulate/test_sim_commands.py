"""The ``simulate`` command as the CLI wires it."""

from __future__ import annotations

import argparse

import pytest

from cloudphot.simulate.commands import add_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudphot")
    add_commands(parser.add_subparsers(dest="command"))
    return parser


def test_simulate_command_writes_a_field_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "field"
    args = _parser().parse_args(
        [
            "simulate",
            str(out),
            "--preset",
            "tiny",
            "--seed",
            "5",
            "--crowding",
            "0.5",
            "--no-progress",
        ]
    )
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "sim-tiny-s5" in text and "8 exposures" in text and "Cepheids" in text
    assert (out / "truth.fits").is_file()
    assert len(list(out.glob("*_flc.fits"))) == 8
    assert "PSF: mismatched" in text  # the default: a PSF the engine does not know


def test_simulate_command_matched_psf_switch(tmp_path, capsys):
    args = _parser().parse_args(
        ["simulate", str(tmp_path / "m"), "--preset", "tiny", "--psf", "matched", "--no-progress"]
    )
    assert args.func(args) == 0
    assert "PSF: matched" in capsys.readouterr().out


def test_simulate_command_reports_bad_filters_as_exit_code(tmp_path, capsys):
    args = _parser().parse_args(
        ["simulate", str(tmp_path), "--preset", "tiny", "--filters", "F160W", "--no-progress"]
    )
    assert args.func(args) == 2
    assert "F160W" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "x", "--preset", "huge"],
        ["simulate", "x", "--crowding", "0"],
        ["simulate", "x", "--crowding", "many"],
        ["simulate", "x", "--seed", "-3"],
        ["simulate", "x", "--psf", "exact"],
        ["simulate", "x", "--workers", "0"],
        ["simulate", "x", "--workers", "two"],
        ["simulate"],
    ],
)
def test_bad_arguments_are_rejected_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
