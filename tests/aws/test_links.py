"""Console links the web monitor renders for executions and log streams."""

from urllib.parse import unquote

import pytest

from cloudphot.aws.links import console_host, execution_console_url, log_stream_url

ARN = "arn:aws:states:eu-west-1:123456789012:execution:cloudphot-ReduceFieldStateMachine:job-1"


def test_execution_url_takes_the_region_from_the_arn():
    assert execution_console_url(ARN) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1"
        f"#/v2/executions/details/{ARN}"
    )


def test_execution_url_other_partitions_and_express():
    gov = "arn:aws-us-gov:states:us-gov-west-1:1:execution:m:n"
    assert execution_console_url(gov).startswith(
        "https://us-gov-west-1.console.amazonaws-us-gov.com/states/home?region=us-gov-west-1#"
    )
    cn = "arn:aws-cn:states:cn-north-1:1:express:m:n:run"
    assert execution_console_url(cn).startswith("https://cn-north-1.console.amazonaws.cn/")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "job-1",
        "arn:aws:states:us-east-1:1:stateMachine:m",
        "arn:aws:lambda:us-east-1:1:function:f:x:y",
        "arn:aws:states:us-east-1:1:execution:m",
    ],
)
def test_execution_url_rejects_what_is_not_an_execution(bad):
    with pytest.raises(ValueError):
        execution_console_url(bad)


def test_log_stream_url_escapes_like_the_console():
    url = log_stream_url("/aws/lambda/cloudphot-Dispatch", "2024/01/02/[$LATEST]0a1b", "us-east-1")
    assert url == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#logsV2:log-groups/log-group/$252Faws$252Flambda$252Fcloudphot-Dispatch"
        "/log-events/2024$252F01$252F02$252F$255B$2524LATEST$255D0a1b"
    )


@pytest.mark.parametrize(
    "name",
    [
        "/cloudphot/stack/photometry",
        "photometry/photometry/0f9e8d",
        "a b&c=d?e#f%g+h",
        "ünïcode/名前",
    ],
)
def test_log_stream_url_round_trips(name):
    """The console undoes its escaping by reading $ as % and decoding twice."""
    url = log_stream_url(name, name, "us-west-2")
    fragment = url.split("#", 1)[1]
    group, stream = fragment.removeprefix("logsV2:log-groups/log-group/").split("/log-events/")
    for escaped in (group, stream):
        assert "/" not in escaped and "#" not in escaped and "?" not in escaped
        assert unquote(unquote(escaped.replace("$", "%"))) == name


def test_log_stream_url_needs_names_and_a_region():
    with pytest.raises(ValueError):
        log_stream_url("", "s", "us-east-1")
    with pytest.raises(ValueError):
        log_stream_url("g", "s", "")
    assert console_host("ap-south-1") == "ap-south-1.console.aws.amazon.com"
