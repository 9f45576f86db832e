"""Catalog queries on AWS: the Athena adapter against moto (and botocore stubs where moto
cannot produce a response), the Catalog and the CLI wired to it.

moto does not run SQL: it hands back results queued in advance. What these tests
establish is the adapter's side of the protocol (the request, polling, stopping,
paging, type conversion, errors), not that Athena accepts our SQL; that is checked
by parsing and by the DuckDB emulation in tests/catalog/test_athena_sql.py. Nothing
here has run against real Athena.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import boto3
import numpy as np
import pyarrow as pa
import pytest
from botocore.stub import Stubber

from cloudphot.catalog.api import Catalog, arrow_to_astropy
from cloudphot.catalog.build import CatalogLayout
from cloudphot.catalog.query import QueryFailed, QueryTimeout
from cloudphot.errors import ConfigError, QueryRefused
from cloudphot.settings import Settings

moto = pytest.importorskip("moto")
from moto.athena.models import QueryResults, athena_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api import state_manager

pytestmark = pytest.mark.aws

REGION = "us-east-1"


@pytest.fixture
def deployed(monkeypatch):
    """The stack's buckets, Glue tables and Athena workgroup in moto, from template.yaml."""
    from moto_stack import create_from_template

    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    with moto.mock_aws():
        yield create_from_template(region=REGION)


def _backend():
    return athena_backends[DEFAULT_ACCOUNT_ID][REGION]


def _queue(column_info: list[dict], rows: list[list], *, header: bool = True) -> None:
    """Queue the next query's result the way Athena returns a SELECT's (header row first)."""
    data = [[c["Name"] for c in column_info]] if header else []
    data += rows
    _backend().query_results_queue.append(
        QueryResults(
            rows=[
                {"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in data
            ],
            column_info=column_info,
        )
    )


def _runner(deployed, **kwargs):
    from cloudphot.aws.athena import AthenaRunner

    return AthenaRunner(
        deployed["CatalogWorkGroup"],
        deployed["CatalogDatabase"],
        client=boto3.client("athena", region_name=REGION),
        **kwargs,
    )


TYPED = [
    {"Name": "objid", "Type": "bigint"},
    {"Name": "nmeas", "Type": "integer"},
    {"Name": "flag", "Type": "smallint"},
    {"Name": "tiny", "Type": "tinyint"},
    {"Name": "ra", "Type": "double"},
    {"Name": "vega", "Type": "float"},
    {"Name": "err", "Type": "real"},
    {"Name": "f814w_gst", "Type": "boolean"},
    {"Name": "filter", "Type": "varchar"},
    {"Name": "code", "Type": "char"},
    {"Name": "d", "Type": "decimal", "Precision": 10, "Scale": 3},
    {"Name": "day", "Type": "date"},
    {"Name": "ts", "Type": "timestamp"},
]


def test_request_carries_workgroup_and_database_and_results_are_typed(deployed):
    _queue(
        TYPED,
        [
            [
                "1234567890123",
                "62",
                "-3",
                "7",
                "10.684708333",
                "21.5",
                "0.03",
                "true",
                "F814W",
                "x",
                "12.345",
                "2026-11-24",
                "2026-11-24 12:34:56.789",
            ],
            [
                None,
                None,
                None,
                None,
                "NaN",
                "Infinity",
                None,
                "false",
                None,
                None,
                None,
                None,
                None,
            ],
        ],
    )
    res = _runner(deployed).run("SELECT 1", timeout_s=10)
    execution = _backend().executions[res.execution_id]
    assert execution.workgroup.name == deployed["CatalogWorkGroup"] == "cloudphot-catalog"
    assert execution.context == {"Database": "phat_v2"}
    assert execution.query == "SELECT 1"
    t = res.table
    assert t.schema.types == [
        pa.int64(),
        pa.int32(),
        pa.int16(),
        pa.int8(),
        pa.float64(),
        pa.float32(),
        pa.float32(),
        pa.bool_(),
        pa.string(),
        pa.string(),
        pa.decimal128(10, 3),
        pa.date32(),
        pa.timestamp("us"),
    ]
    assert t.num_rows == 2  # the header row is not data
    first = t.slice(0, 1).to_pylist()[0]
    assert first == {
        "objid": 1234567890123,
        "nmeas": 62,
        "flag": -3,
        "tiny": 7,
        "ra": 10.684708333,
        "vega": 21.5,
        "err": pytest.approx(0.03),
        "f814w_gst": True,
        "filter": "F814W",
        "code": "x",
        "d": Decimal("12.345"),
        "day": datetime.date(2026, 11, 24),
        "ts": datetime.datetime(2026, 11, 24, 12, 34, 56, 789000),
    }
    second = t.slice(1, 1).to_pylist()[0]
    assert second["objid"] is None and second["filter"] is None and second["f814w_gst"] is False
    assert np.isnan(second["ra"]) and second["vega"] == np.inf
    # NULLs become masked values in the astropy table, as locally
    table = arrow_to_astropy(t.select(["objid", "ra", "filter"]))
    assert table["objid"].mask.tolist() == [False, True] and table["objid"][0] == 1234567890123
    assert table["filter"].mask.tolist() == [False, True] and table["ra"].dtype == np.float64
    assert res.scanned_bytes == 0  # moto's statistics


def test_polls_with_backoff_until_succeeded(deployed):
    state_manager.set_transition(
        model_name="athena::execution", transition={"progression": "manual", "times": 3}
    )
    try:
        _queue([{"Name": "n", "Type": "bigint"}], [["5"]])
        waits: list[float] = []
        res = _runner(deployed, sleep=waits.append).run("SELECT 5 AS n", timeout_s=60)
    finally:
        state_manager.unset_transition("athena::execution")
    assert res.table.column("n").to_pylist() == [5]
    assert len(waits) >= 2 and waits == sorted(waits) and waits[1] == 2 * waits[0]


def test_timeout_stops_the_query(deployed):
    state_manager.set_transition(
        model_name="athena::execution", transition={"progression": "manual", "times": 1000}
    )
    now = [0.0]

    def sleep(s):
        now[0] += s

    try:
        runner = _runner(deployed, sleep=sleep, clock=lambda: now[0])
        with pytest.raises(QueryTimeout, match="5 s per-query timeout and was stopped") as info:
            runner.run("SELECT count(*) FROM a, b, c", timeout_s=5)
    finally:
        state_manager.unset_transition("athena::execution")
    (execution,) = _backend().executions.values()
    assert execution.status == "CANCELLED"  # StopQueryExecution reached Athena
    assert execution.id in str(info.value)
    assert isinstance(info.value, QueryRefused)  # as the local engine's timeout


def _stubbed(responses):
    """An Athena client answering ``responses`` [(operation, response, expected params)]."""
    client = boto3.client(
        "athena", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(client)
    for op, response, params in responses:
        if isinstance(response, Exception):
            stub.add_client_error(
                op, service_error_code=response.args[0], service_message=response.args[1]
            )
        else:
            stub.add_response(op, response, params)
    stub.activate()
    return client, stub


def _status(state, reason=None, scanned=None):
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    execution = {"QueryExecutionId": "q-1", "Status": status}
    if scanned is not None:
        execution["Statistics"] = {"DataScannedInBytes": scanned}
    return {"QueryExecution": execution}


START = (
    "start_query_execution",
    {"QueryExecutionId": "q-1"},
    {"QueryString": "SELECT 1", "WorkGroup": "wg", "QueryExecutionContext": {"Database": "db"}},
)
GET = {"QueryExecutionId": "q-1"}


def test_failed_query_raises_with_athenas_reason():
    from cloudphot.aws.athena import AthenaRunner

    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
    client, stub = _stubbed(
        [
            START,
            ("get_query_execution", _status("RUNNING"), GET),
            ("get_query_execution", _status("FAILED", reason), GET),
        ]
    )
    with pytest.raises(QueryFailed, match="Column 'nope' cannot be resolved") as info:
        AthenaRunner("wg", "db", client=client, sleep=lambda s: None).run("SELECT 1")
    assert "q-1" in str(info.value)
    stub.assert_no_pending_responses()


def test_scan_limit_cancellation_names_the_limit():
    from cloudphot.aws.athena import AthenaRunner

    client, _ = _stubbed(
        [
            START,
            (
                "get_query_execution",
                _status("CANCELLED", "Query cancelled: bytes scanned limit was exceeded"),
                GET,
            ),
        ]
    )
    with pytest.raises(QueryFailed, match="AthenaScanLimitBytes"):
        AthenaRunner("wg", "db", client=client).run("SELECT 1")


def test_timeout_with_a_stub_calls_stop():
    from cloudphot.aws.athena import AthenaRunner

    now = [0.0]
    client, stub = _stubbed(
        [START]
        + [("get_query_execution", _status("RUNNING"), GET)] * 4
        + [("stop_query_execution", {}, GET)]
    )

    def sleep(s):
        now[0] += s

    runner = AthenaRunner(
        "wg", "db", client=client, sleep=sleep, clock=lambda: now[0], poll_first_s=1, poll_max_s=4
    )
    with pytest.raises(QueryTimeout, match="was stopped"):
        runner.run("SELECT 1", timeout_s=6)  # waits 1 + 2 + 3 (capped by the deadline)
    stub.assert_no_pending_responses()


def _rows(*values):
    return [{"Data": [{"VarCharValue": v}]} for v in values]


RESULTS = {"QueryExecutionId": "q-1", "MaxResults": 1000}


def test_pages_are_followed_and_the_header_is_only_on_the_first():
    from cloudphot.aws.athena import AthenaRunner

    cols = {"ColumnInfo": [{"Name": "n", "Type": "integer"}]}
    client, stub = _stubbed(
        [
            START,
            ("get_query_execution", _status("SUCCEEDED", scanned=4096), GET),
            (
                "get_query_results",
                {
                    "ResultSet": {"Rows": _rows("n", "1", "2"), "ResultSetMetadata": cols},
                    "NextToken": "t2",
                },
                RESULTS,
            ),
            (
                "get_query_results",
                {"ResultSet": {"Rows": _rows("3", "4"), "ResultSetMetadata": cols}},
                {**RESULTS, "NextToken": "t2"},
            ),
        ]
    )
    res = AthenaRunner("wg", "db", client=client).run("SELECT 1")
    assert res.table.column("n").to_pylist() == [1, 2, 3, 4]
    assert res.scanned_bytes == 4096 and res.execution_id == "q-1"
    stub.assert_no_pending_responses()


def test_paging_stops_once_the_row_limit_is_passed():
    from cloudphot.aws.athena import AthenaRunner

    cols = {"ColumnInfo": [{"Name": "n", "Type": "integer"}]}
    client, stub = _stubbed(
        [
            START,
            ("get_query_execution", _status("SUCCEEDED"), GET),
            (
                "get_query_results",
                {
                    "ResultSet": {"Rows": _rows("n", "1", "2", "3"), "ResultSetMetadata": cols},
                    "NextToken": "t2",
                },
                RESULTS,
            ),
        ]
    )
    res = AthenaRunner("wg", "db", client=client).run("SELECT 1", max_rows=2)
    assert res.table.num_rows == 3  # max_rows + 1: the engine flags the truncation
    stub.assert_no_pending_responses()


def test_access_denied_says_which_policy_to_attach():
    from cloudphot.aws.athena import AthenaRunner

    client, _ = _stubbed(
        [
            (
                "start_query_execution",
                Exception("AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized"),
                None,
            )
        ]
    )
    with pytest.raises(ConfigError, match="CatalogReaderPolicyArn"):
        AthenaRunner("wg", "db", client=client).run("SELECT 1")


def test_unknown_workgroup_is_a_configuration_error():
    from cloudphot.aws.athena import AthenaRunner

    client, _ = _stubbed(
        [
            (
                "start_query_execution",
                Exception("InvalidRequestException", "WorkGroup wg is not found."),
                None,
            )
        ]
    )
    with pytest.raises(ConfigError, match="AthenaWorkGroupName"):
        AthenaRunner("wg", "db", client=client).run("SELECT 1")


def test_no_workgroup_at_all_is_refused_before_any_call():
    from cloudphot.aws.athena import AthenaRunner

    with pytest.raises(ConfigError, match="CLOUDPHOT_STACK"):
        AthenaRunner("", "db", client=object())


# ------------------------------------------------------------------ hostile responses
def _through_stub(page):
    from cloudphot.aws.athena import AthenaRunner

    client, _ = _stubbed(
        [
            START,
            ("get_query_execution", _status("SUCCEEDED"), GET),
            ("get_query_results", page, RESULTS),
        ]
    )
    return AthenaRunner("wg", "db", client=client).run("SELECT 1")


@pytest.mark.parametrize(
    "page,reason",
    [
        ({"ResultSet": {"Rows": _rows("n", "1")}}, "no column metadata"),
        (
            {"ResultSet": {"Rows": _rows("n", "1"), "ResultSetMetadata": {"ColumnInfo": []}}},
            "no column metadata",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "abc"),
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "bigint"}]},
                }
            },
            "declared 'bigint' but row 1 holds 'abc'",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "maybe"),
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "boolean"}]},
                }
            },
            "declared 'boolean'",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "99999"),
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "smallint"}]},
                }
            },
            "does not fit int16",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "1.2345"),
                    "ResultSetMetadata": {
                        "ColumnInfo": [{"Name": "n", "Type": "decimal", "Precision": 5, "Scale": 2}]
                    },
                }
            },
            "does not fit",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "2026-13-45"),
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "date"}]},
                }
            },
            "declared 'date'",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("1", "2"),
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "integer"}]},
                }
            },
            "first row should be the header",
        ),
        (
            {
                "ResultSet": {
                    "Rows": [],
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "integer"}]},
                }
            },
            "first row should be the header",
        ),
        (
            {
                "ResultSet": {
                    "Rows": [{"Data": [{"VarCharValue": "n"}]}, {"Data": []}],
                    "ResultSetMetadata": {"ColumnInfo": [{"Name": "n", "Type": "integer"}]},
                }
            },
            "row 1 has 0 values for 1 columns",
        ),
        (
            {
                "ResultSet": {
                    "Rows": _rows("n", "1"),
                    "ResultSetMetadata": {
                        "ColumnInfo": [{"Name": "n", "Type": "hyperloglog_of_doom"}]
                    },
                }
            },
            "unknown column type",
        ),
        ({}, "no ResultSet"),
    ],
)
def test_malformed_results_are_query_failed_not_a_crash(page, reason):
    with pytest.raises(QueryFailed, match="malformed") as info:
        _through_stub(page)
    assert reason in str(info.value)


def test_result_to_arrow_rejects_junk_directly():
    from cloudphot.aws.athena import result_to_arrow

    for info, rows in [
        (None, []),
        ([{"Type": "bigint"}], []),
        (["bigint"], []),
        ([{"Name": "a", "Type": "bigint"}], [None]),
        ([{"Name": "a", "Type": "bigint"}], [{"Data": "1"}]),
        ([{"Name": "a", "Type": "double"}], [{"Data": [{"VarCharValue": "1,5"}]}]),
    ]:
        with pytest.raises(QueryFailed, match="malformed"):
            result_to_arrow(info, rows)


# ------------------------------------------------------------------ Catalog and CLI on AWS
@pytest.fixture
def published(deployed, built):
    """The built test catalog's manifests in the moto products bucket (what the CLI reads)."""
    _, local, _, _ = built
    s3 = boto3.client("s3", region_name=REGION)
    layout = CatalogLayout("phat_v2")
    version = local.manifest()["version"]
    for key in (layout.latest, layout.manifest(version)):
        s3.put_object(
            Bucket=deployed["ProductsBucket"],
            Key=key,
            Body=local.store.get_bytes(local.bucket, key),
        )
    settings = Settings(
        backend="aws",
        region=REGION,
        buckets={"raw": deployed["RawBucket"], "products": deployed["ProductsBucket"]},
        survey="phat_v2",
        athena_workgroup=deployed["CatalogWorkGroup"],
    )
    return settings, local, version


def test_catalog_on_aws_runs_the_checked_sql_in_the_workgroup(published):
    settings, _, version = published
    _queue(
        [
            {"Name": "objid", "Type": "bigint"},
            {"Name": "ra", "Type": "double"},
            {"Name": "f814w_vega", "Type": "float"},
        ],
        [["42", "10.68", "21.25"], ["43", "10.69", None]],
    )
    with Catalog(settings) as cat:
        t = cat.query(
            "SELECT objid, ra, f814w_vega FROM phat_v2.phot_mod WHERE "
            "q3c_radial_query(ra, dec, 10.692, 41.276, 0.001)"
        )
        assert type(cat.engine).__name__ == "AthenaQueryEngine"
    assert list(t["objid"]) == [42, 43] and t["f814w_vega"].mask.tolist() == [False, True]
    assert t["ra"].unit == "deg"  # the schema's units, as locally
    assert t.meta["CATVERS"] == version and t.meta["TRUNC"] is False
    (execution,) = _backend().executions.values()
    assert t.meta["ATHENAID"] == execution.id and t.meta["SCANBYTE"] == 0
    sent = execution.query
    assert f'"version" = {version}' in sent and '"dir" IN (' in sent
    assert execution.workgroup.name == settings.athena_workgroup


def test_catalog_on_aws_flags_truncation(published):
    settings, _, _ = published
    _queue([{"Name": "objid", "Type": "bigint"}], [[str(i)] for i in range(4)])
    with Catalog(settings, max_rows=3) as cat:
        t = cat.query("SELECT objid FROM phat_v2.phot_mod")
    assert len(t) == 3 and t.meta["TRUNC"] is True
    (execution,) = _backend().executions.values()
    assert execution.query.endswith("LIMIT 4")


def test_catalog_on_aws_refuses_before_calling_athena(published):
    settings, _, _ = published
    with Catalog(settings) as cat, pytest.raises(QueryRefused, match="DROP is not allowed"):
        cat.query("DROP TABLE phat_v2.phot_mod")
    assert not _backend().executions


def test_crossmatch_on_aws_says_what_to_do_instead(published):
    settings, _, _ = published
    with Catalog(settings) as cat, pytest.raises(ConfigError, match="LSDB") as info:
        cat.crossmatch([10.68], [41.27])
    assert f"s3://{settings.bucket('products')}/catalogs/phat_v2/v" in str(info.value)


def test_a_catalog_the_glue_tables_do_not_project_is_named(published):
    """Built at the default order, deployed with CatalogPartitionOrder 7: every query would
    be empty, so the engine says what to redeploy with."""
    from cloudphot.catalog.build import DEFAULT_PARTITION_ORDER

    settings, _, _ = published
    glue = boto3.client("glue", region_name=REGION)
    table = glue.get_table(DatabaseName="phat_v2", Name="phot_mod")["Table"]
    params = {**table["Parameters"], "projection.norder.range": "7,7"}
    glue.update_table(
        DatabaseName="phat_v2",
        TableInput={
            "Name": "phot_mod",
            "Parameters": params,
            "PartitionKeys": table["PartitionKeys"],
            "StorageDescriptor": table["StorageDescriptor"],
            "TableType": table["TableType"],
        },
    )
    with (
        Catalog(settings) as cat,
        pytest.raises(
            ConfigError,
            match=f"projects order 7: .*CatalogPartitionOrder={DEFAULT_PARTITION_ORDER}",
        ),
    ):
        cat.query("SELECT objid FROM phat_v2.phot_mod LIMIT 1")
    assert not _backend().executions


def _outputs(deployed) -> dict[str, str]:
    out = {
        "RawBucketName": deployed["RawBucket"],
        "ProductsBucketName": deployed["ProductsBucket"],
        "CatalogDatabaseName": deployed["CatalogDatabase"],
        "AthenaWorkGroupName": deployed["CatalogWorkGroup"],
    }
    out.update(
        {f"{t}TableName": deployed[f"{t}Table"] for t in ("Tasks", "Events", "Jobs", "Exposures")}
    )
    # every table the settings name must be an output (dead letters came with issue 14)
    from cloudphot.aws.stack import TABLE_ENV, table_logical_id

    for name in TABLE_ENV:
        key = f"{table_logical_id(name)}Name"
        out.setdefault(key, deployed.get(f"{table_logical_id(name)}", f"cloudphot-{name}"))
    return out


def test_stack_outputs_name_the_workgroup(deployed):
    from cloudphot.aws.stack import deployed_settings

    client = boto3.client("cloudformation", region_name=REGION)
    stub = Stubber(client)
    for _ in range(2):
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "phot",
                        "CreationTime": "2026-11-24T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [
                            {"OutputKey": k, "OutputValue": v}
                            for k, v in _outputs(deployed).items()
                        ],
                    }
                ]
            },
            {"StackName": "phot"},
        )
    stub.activate()
    settings, _ = deployed_settings({"CLOUDPHOT_STACK": "phot"}, client=client)
    assert settings.athena_workgroup == "cloudphot-catalog" and settings.backend == "aws"
    assert settings.survey == "phat_v2"
    settings, _ = deployed_settings(
        {"CLOUDPHOT_STACK": "phot", "CLOUDPHOT_ATHENA_WORKGROUP": "mine"}, client=client
    )
    assert settings.athena_workgroup == "mine"
    assert (
        Settings.from_env(env={"CLOUDPHOT_ATHENA_WORKGROUP": "wg"}).as_env()[
            "CLOUDPHOT_ATHENA_WORKGROUP"
        ]
        == "wg"
    )


def test_cli_query_on_aws_uses_the_stack(published, deployed, monkeypatch, capsys):
    from cloudphot.aws import stack
    from cloudphot.catalog.commands import main

    asked = []

    def outputs(name, *, client=None):
        asked.append(name)
        return _outputs(deployed)

    monkeypatch.setattr(stack, "stack_outputs", outputs)
    monkeypatch.setenv("CLOUDPHOT_BACKEND", "aws")
    monkeypatch.setenv("CLOUDPHOT_STACK", "phot")
    _queue([{"Name": "objid", "Type": "bigint"}, {"Name": "nb", "Type": "bigint"}], [["7", "3"]])
    assert (
        main(
            [
                "query",
                "SELECT objid, count(*) AS nb FROM phat_v2.phot_meas GROUP BY objid",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    assert asked == ["phot"]
    assert capsys.readouterr().out.split() == ["objid,nb", "7,3"]
    (execution,) = _backend().executions.values()
    assert execution.workgroup.name == "cloudphot-catalog"
    assert main(["query", "SELECT * FROM read_csv('/etc/passwd')"]) == 2
    assert "table function read_csv() is not allowed" in capsys.readouterr().err
    assert len(_backend().executions) == 1


def test_template_workgroup_in_moto_is_the_enforced_one(deployed):
    group = boto3.client("athena", region_name=REGION).get_work_group(
        WorkGroup=deployed["CatalogWorkGroup"]
    )["WorkGroup"]["Configuration"]
    assert group["EnforceWorkGroupConfiguration"] is True
    assert group["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{deployed['ProductsBucket']}/athena-results/"
    )
    table = boto3.client("glue", region_name=REGION).get_table(
        DatabaseName="phat_v2", Name="phot_meas"
    )["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["version", "norder", "dir"]
    assert "${version}" in table["Parameters"]["storage.location.template"]
