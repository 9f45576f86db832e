"""One Platform interface, two implementations, one factory."""

from __future__ import annotations

import json

import pytest

from cloudphot.platform import PipelineRunner, Platform, open_platform
from cloudphot.settings import Settings


def test_both_implementations_are_complete_platforms_and_runners():
    from cloudphot.aws.platform import AwsPlatform
    from cloudphot.aws.stack import AwsPipeline
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.runtime.platform import LocalPlatform

    for cls, base in [
        (LocalPlatform, Platform),
        (AwsPlatform, Platform),
        (LocalRuntime, PipelineRunner),
        (AwsPipeline, PipelineRunner),
    ]:
        assert issubclass(cls, base)
        assert not getattr(cls, "__abstractmethods__", None), (cls, cls.__abstractmethods__)


def test_the_factory_picks_the_implementation_from_the_settings(local_settings, monkeypatch):
    from cloudphot.aws.platform import AwsPlatform
    from cloudphot.runtime.platform import LocalPlatform

    assert isinstance(open_platform(local_settings), LocalPlatform)
    arns = {"IngestExposureStateMachine": "arn:aws:states:us-east-1:1:stateMachine:x"}
    monkeypatch.setenv("STATE_MACHINE_ARNS", json.dumps(arns))
    aws = open_platform(Settings(backend="aws"))
    assert isinstance(aws, AwsPlatform) and aws.arns == arns and aws.run_inline


def test_a_local_platform_opens_nothing_until_a_port_is_used(local_settings):
    platform = open_platform(local_settings)
    assert not local_settings.home.exists()  # no workspace, executions file or template read
    assert "runner" not in platform.__dict__
    platform.objects.put_bytes(local_settings.bucket("products"), "a/b.txt", b"x")
    assert "runner" not in platform.__dict__  # products writes reach nothing
    assert not local_settings.tables_path.exists()


def test_a_raw_write_through_the_platform_triggers_the_pipeline(local_settings, tmp_path):
    """As on S3 (EventBridge rule RawObjectCreated): raw-bucket writes become events."""
    platform = open_platform(local_settings, sleep=lambda s: None)
    platform.runner.register()
    platform.objects.put_bytes(local_settings.bucket("raw"), "notes.txt", b"hello")
    (event,) = list(platform.store.events())
    assert event.type == "object.created" and event.subject == "notes.txt"
    platform.close()


def test_commands_that_drive_the_local_runtime_are_refused_on_aws(monkeypatch, capsys):
    from cloudphot import cli

    monkeypatch.setenv("CLOUDPHOT_BACKEND", "aws")
    monkeypatch.setenv("STATE_MACHINE_ARNS", "{}")
    assert cli.main(["run"]) == 2
    assert "drives the local runtime" in capsys.readouterr().err


def test_a_local_command_without_a_workspace_says_how_to_make_one(tmp_path, capsys):
    from cloudphot import cli

    assert cli.main(["--workdir", str(tmp_path / "none"), "executions"]) == 2
    assert "cloudphot init" in capsys.readouterr().err


def test_a_budget_is_refused_where_it_cannot_be_kept():
    from cloudphot.aws.stack import AwsPipeline
    from cloudphot.errors import ConfigError

    with pytest.raises(ConfigError, match="AWS Budgets"):
        AwsPipeline(Settings(backend="aws"), None, None, None).run(budget_usd=1.0)
