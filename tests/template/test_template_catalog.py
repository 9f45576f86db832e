"""The photometry database on AWS (Glue tables, Athena workgroup) against the catalog code.

Athena reads the Parquet files the catalog build writes by column name and by the
partition locations the projection computes, so a column renamed or retyped in
schema.py, or a key layout changed in products.py/hats.py, would only show up as
NULL columns or empty query results after deploying. These tests tie them together.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pytest
from _template_helpers import references

from cloudphot.catalog.build import DEFAULT_PARTITION_ORDER, CatalogLayout
from cloudphot.catalog.hats import partition_key
from cloudphot.catalog.schema import PHOT_MEAS, PHOT_MOD, PHOT_PM, PHOT_VAR, PHOT_VISIT
from cloudphot.settings import Settings

#: Arrow type of schema.py -> Glue/Hive type Athena reads that Parquet type as
GLUE_TYPES = {
    pa.float64(): "double",
    pa.float32(): "float",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.int16(): "smallint",
    pa.bool_(): "boolean",
    pa.string(): "string",
}
TABLES = {
    "PhotModGlueTable": ("phot_mod", PHOT_MOD),
    "PhotMeasGlueTable": ("phot_meas", PHOT_MEAS),
    "PhotVisitGlueTable": ("phot_visit", PHOT_VISIT),
    "PhotPmGlueTable": ("phot_pm", PHOT_PM),
    "PhotVarGlueTable": ("phot_var", PHOT_VAR),
}
BUCKET = "products-bucket"


def expected_columns(columns: dict) -> list[tuple[str, str]]:
    return [(name, GLUE_TYPES[typ]) for name, (typ, _unit, _text) in columns.items()]


def template_columns(resources: dict, lid: str) -> list[tuple[str, str]]:
    cols = resources[lid]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    return [(c["Name"], c["Type"]) for c in cols]


def sub(value, params: dict[str, str]) -> str:
    """Resolve a Fn::Sub the way CloudFormation would, with the products bucket named BUCKET
    and parameters at ``params``; ``${!x}`` stays as the literal ``${x}``."""
    if isinstance(value, str):
        return value
    text, local = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
    names = {"ProductsBucket": BUCKET, **params}

    def one(match: re.Match) -> str:
        key = match.group(1)
        if key.startswith("!"):
            return "${" + key[1:] + "}"
        if key in local:
            return sub(local[key], params)
        return names[key]

    return re.sub(r"\$\{([^}]+)\}", one, text)


@pytest.fixture
def defaults(template) -> dict[str, str]:
    return {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}


@pytest.mark.parametrize("lid", sorted(TABLES))
def test_glue_columns_are_the_schema(resources, lid):
    name, columns = TABLES[lid]
    assert resources[lid]["Properties"]["TableInput"]["Name"] == name
    assert template_columns(resources, lid) == expected_columns(columns)


@pytest.mark.parametrize("lid", sorted(TABLES))
def test_glue_comments_carry_the_documentation(resources, lid):
    _, columns = TABLES[lid]
    cols = resources[lid]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    for col in cols:
        _typ, unit, text = columns[col["Name"]]
        assert len(col["Comment"]) <= 255, col["Name"]  # Glue's limit
        assert col["Comment"].startswith(text[:200]), col["Name"]
        if unit:
            assert col["Comment"].endswith(f"[{unit}]"), col["Name"]


def test_the_column_check_catches_a_drift(resources):
    """Not vacuous: a retyped, dropped or reordered column fails the comparison."""
    found = template_columns(resources, "PhotModGlueTable")
    retyped = [(n, "double" if n == "f475w_vega" else t) for n, t in found]
    assert retyped != expected_columns(PHOT_MOD)
    assert found[:-1] != expected_columns(PHOT_MOD)
    assert [found[1], found[0], *found[2:]] != expected_columns(PHOT_MOD)
    assert set(GLUE_TYPES) >= {t for t, _, _ in [*PHOT_MOD.values(), *PHOT_MEAS.values()]}


@pytest.mark.parametrize("lid", sorted(TABLES))
def test_external_parquet_over_the_products_bucket(resources, defaults, lid):
    table = resources[lid]["Properties"]
    assert references(table["DatabaseName"]) == {"CatalogDatabase"}
    tin = table["TableInput"]
    assert tin["TableType"] == "EXTERNAL_TABLE"
    assert tin["Parameters"]["classification"] == "parquet"
    sd = tin["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert sd["InputFormat"].endswith("MapredParquetInputFormat")
    assert references(sd["Location"]) == {"ProductsBucket", "SurveyName"}
    survey = defaults["SurveyName"]
    assert sub(sd["Location"], defaults) == f"s3://{BUCKET}/{CatalogLayout(survey).root}"
    partition_names = [k["Name"] for k in tin["PartitionKeys"]]
    assert partition_names == ["version", "norder", "dir"]
    # a partition key may not also be a column of the files
    assert not set(partition_names) & {n for n, _ in template_columns(resources, lid)}


@pytest.mark.parametrize("lid", sorted(TABLES))
@pytest.mark.parametrize("version,npix", [(1, 0), (3, 9999), (12, 10000), (9999, 786431)])
def test_projected_locations_are_where_the_build_writes(
    template, resources, defaults, lid, version, npix
):
    """Project one partition as Athena would and compare with the build's own key."""
    name, _ = TABLES[lid]
    params = resources[lid]["Properties"]["TableInput"]["Parameters"]
    assert params["projection.enabled"] == "true"
    order = int(defaults["CatalogPartitionOrder"])
    dir_ = npix // 10000 * 10000
    values = {
        "version": str(version).zfill(int(params["projection.version.digits"])),
        "norder": str(order),
        "dir": str(dir_),
    }
    location = sub(params["storage.location.template"], defaults)
    for key, value in values.items():
        location = location.replace("${" + key + "}", value)
    assert "${" not in location
    file_key = CatalogLayout(defaults["SurveyName"]).table_prefix(version, name) + partition_key(
        order, npix
    )
    assert f"s3://{BUCKET}/{file_key}".rsplit("/", 1)[0] + "/" == location
    # and the projection covers that partition
    lo, hi = map(int, params["projection.version.range"].split(","))
    assert lo <= version <= hi
    assert sub(params["projection.norder.range"], defaults) == f"{order},{order}"
    assert _in_dir_projection(template, params, defaults, dir_)


def _in_dir_projection(template, params, defaults, dir_) -> bool:
    text, local = params["projection.dir.range"]["Fn::Sub"]
    mapping, key, attr = local["MaxDir"]["Fn::FindInMap"]
    assert key == {"Ref": "CatalogPartitionOrder"}
    top = template["Mappings"][mapping][defaults["CatalogPartitionOrder"]][attr]
    lo, hi = map(int, text.replace("${MaxDir}", str(top)).split(","))
    step = int(params["projection.dir.interval"])
    return lo <= dir_ <= hi and (dir_ - lo) % step == 0


def test_dir_ranges_cover_every_order(template):
    """MaxDir of each allowed order is the Dir of that order's last HEALPix pixel."""
    allowed = template["Parameters"]["CatalogPartitionOrder"]["AllowedValues"]
    ranges = template["Mappings"]["HatsDirRange"]
    assert {str(o) for o in allowed} == set(ranges)
    for order in allowed:
        last = partition_key(order, 12 * 4**order - 1)
        assert ranges[str(order)]["MaxDir"] == int(re.search(r"Dir=(\d+)/", last).group(1)), order


def test_defaults_follow_the_code(template):
    params = template["Parameters"]
    assert params["CatalogPartitionOrder"]["Default"] == DEFAULT_PARTITION_ORDER
    assert params["SurveyName"]["Default"] == Settings().survey
    assert re.fullmatch(params["SurveyName"]["AllowedPattern"], Settings().survey)


def test_survey_name_reaches_lambdas_worker_and_database(template, resources):
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CLOUDPHOT_SURVEY"] == {"Ref": "SurveyName"}
    # the build partitions a new survey at the order the Glue projection expects
    assert env["CLOUDPHOT_CATALOG_PARTITION_ORDER"] == {"Ref": "CatalogPartitionOrder"}
    (container,) = resources["PhotometryTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert {"Name": "CLOUDPHOT_SURVEY", "Value": {"Ref": "SurveyName"}} in container["Environment"]
    db = resources["CatalogDatabase"]["Properties"]["DatabaseInput"]
    assert db["Name"] == {"Ref": "SurveyName"}


def test_athena_workgroup_is_enforced_capped_and_encrypted(resources):
    group = resources["CatalogWorkGroup"]["Properties"]
    config = group["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaScanLimitBytes"}
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${ProductsBucket}/athena-results/"}


def test_athena_results_expire(resources):
    rules = resources["ProductsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [
        r for r in rules if r.get("Prefix") == "athena-results/" and r["Status"] == "Enabled"
    ]
    assert expiring and expiring[0]["ExpirationInDays"] >= 1


def test_scan_limit_parameter_is_within_athenas_bounds(template):
    limit = template["Parameters"]["AthenaScanLimitBytes"]
    assert limit["MinValue"] >= 10_000_000  # Athena's minimum cutoff
    assert limit["Default"] >= limit["MinValue"]


def test_outputs_name_the_database(template):
    outputs = template["Outputs"]
    for key, lid in {
        "CatalogDatabaseName": "CatalogDatabase",
        "PhotModTableName": "PhotModGlueTable",
        "PhotMeasTableName": "PhotMeasGlueTable",
        "AthenaWorkGroupName": "CatalogWorkGroup",
    }.items():
        assert outputs[key]["Value"] == {"Ref": lid}


def _statements(resources) -> dict[str, dict]:
    policy = resources["CatalogReaderPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_reader_policy_is_what_a_catalog_query_needs_and_no_more(resources):
    """The CLI on AWS: DescribeStacks, the manifests (S3), then Athena in the workgroup;
    Athena itself reads Glue and S3 and writes its results with the caller's rights."""
    st = _statements(resources)
    assert all(s["Effect"] == "Allow" for s in st.values())
    actions = {
        a
        for s in st.values()
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert actions == {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "athena:GetWorkGroup",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:GetPartition",
        "glue:GetPartitions",
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "cloudformation:DescribeStacks",
    }
    athena = st["AthenaInTheCatalogWorkGroup"]["Resource"]
    assert references(athena) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"} == {
        "CatalogWorkGroup"
    }
    glue = st["CatalogGlueMetadata"]["Resource"]
    assert {
        frozenset(references(r)) - {"AWS::Partition", "AWS::Region", "AWS::AccountId"} for r in glue
    } == {
        frozenset(),
        frozenset({"CatalogDatabase"}),
        *(frozenset({"CatalogDatabase", lid}) for lid in TABLES),
    }


def test_reader_policy_reads_only_the_catalog_and_the_results(resources, defaults):
    st = _statements(resources)
    survey = defaults["SurveyName"]
    arn = f"arn:aws:s3:::{BUCKET}"
    params = {**defaults, "ProductsBucket.Arn": arn}
    files = sub(st["ReadCatalogFiles"]["Resource"], params)
    assert files == f"{arn}/{CatalogLayout(survey).root}*"
    # the manifests the CLI reads are under it
    assert f"{arn}/{CatalogLayout(survey).latest}".startswith(files[:-1])
    results = sub(st["QueryResults"]["Resource"], params)
    group = resources["CatalogWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    out = sub(group["ResultConfiguration"]["OutputLocation"], params)
    assert results == f"{arn}/athena-results/*" and out == f"s3://{BUCKET}/athena-results/"
    listing = st["ListCatalogAndResultPrefixes"]
    assert listing["Resource"] == {"Fn::GetAtt": ["ProductsBucket", "Arn"]}
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert [sub(p, params) for p in prefixes] == [
        f"{CatalogLayout(survey).root}*",
        "athena-results/*",
    ]


def test_outputs_name_the_reader_policy(template):
    assert template["Outputs"]["CatalogReaderPolicyArn"]["Value"] == {"Ref": "CatalogReaderPolicy"}
