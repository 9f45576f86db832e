"""AWS console links for what the monitor shows: an execution, a log group, a log stream.

Both are pure string functions (no AWS calls), so the web monitor can render
links for any region and partition without credentials.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["console_host", "execution_console_url", "log_group_url", "log_stream_url"]

#: what JavaScript's encodeURIComponent leaves alone beyond quote()'s own safe set;
#: the console escapes with it, so a URL built here is the one the console would show
_URI_COMPONENT_SAFE = "!*'()"


def console_host(region: str) -> str:
    """The console's host name for ``region`` (China and GovCloud have their own domains)."""
    if not region or "/" in region or ":" in region:
        raise ValueError(f"not a region: {region!r}")
    if region.startswith("cn-"):
        return f"{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return f"{region}.console.amazonaws-us-gov.com"
    return f"{region}.console.aws.amazon.com"


def execution_console_url(execution_arn: str) -> str:
    """Step Functions console page of one execution; the region comes from the ARN.

    ``arn:aws:states:eu-west-1:123456789012:execution:machine:job-1`` ->
    ``https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/<arn>``
    """
    parts = execution_arn.split(":")
    # arn:partition:states:region:account:execution|express:machine:name[:...]
    if (
        len(parts) < 8
        or parts[0] != "arn"
        or parts[2] != "states"
        or parts[5] not in ("execution", "express")
    ):
        raise ValueError(f"not a Step Functions execution ARN: {execution_arn!r}")
    region = parts[3]
    return (
        f"https://{console_host(region)}/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _console_escape(text: str) -> str:
    """The CloudWatch console's escaping of a path segment in its ``#logsV2:`` fragment:
    URI-component encoding applied twice, then ``%`` written as ``$`` (``/`` -> ``$252F``)."""
    once = quote(text, safe=_URI_COMPONENT_SAFE)
    return quote(once, safe=_URI_COMPONENT_SAFE).replace("%", "$")


def log_stream_url(log_group: str, log_stream: str, region: str) -> str:
    """CloudWatch Logs console page of one log stream's events.

    ``log_stream_url("/aws/lambda/f", "2024/01/02/[$LATEST]ab", "us-east-1")`` ->
    ``.../cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Flambda$252Ff/log-events/2024$252F01$252F02$252F$255B$2524LATEST$255Dab``
    """
    if not log_group or not log_stream:
        raise ValueError("log group and log stream must not be empty")
    return (
        f"https://{console_host(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_escape(log_group)}"
        f"/log-events/{_console_escape(log_stream)}"
    )


def log_group_url(log_group_arn_or_name: str, region: str) -> str:
    """CloudWatch Logs console page of one log group (name or ARN, ``:*`` suffix allowed)."""
    name = log_group_arn_or_name
    if name.startswith("arn:"):
        name = name.split(":log-group:", 1)[-1]
    name = name.removesuffix(":*")
    if not name:
        raise ValueError("log group must not be empty")
    return (
        f"https://{console_host(region)}/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{_console_escape(name)}"
    )
