"""Lambda functions and the ECS task against the code they run.

sam build happily packages a CodeUri whose handler does not exist or does not
import, and a missing environment variable only shows when Settings falls back
to the logical name ("events") and DynamoDB says no such table. Both are checked
here before anything is deployed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from _template_helpers import references

from cloudphot.settings import BUCKET_ENV, TABLE_ENV, Settings
from cloudphot.template import functions, load_template, table_logical_id
from moto_stack import physical_names

_FUNCTIONS = sorted(functions(load_template()))

#: variables Settings.from_env needs on AWS (the rest have defaults or are set by Lambda)
REQUIRED_ENV = {"CLOUDPHOT_BACKEND", *BUCKET_ENV.values(), *TABLE_ENV.values()}
#: set by the Lambda runtime; a template may not set them
LAMBDA_RESERVED = {
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
    "AWS_EXECUTION_ENV",
    "AWS_XRAY_DAEMON_ADDRESS",
}


def test_template_has_the_functions_the_code_expects():
    assert {
        "OnObjectFunction",
        "DispatchFunction",
        "IngestExposureFunction",
        "JobStatusFunction",
    } <= set(_FUNCTIONS)


@pytest.mark.parametrize("function", _FUNCTIONS)
def test_handler_module_exists(template, project_root, function):
    spec = functions(template)[function]
    code = project_root / spec.code_uri
    assert code.is_dir(), f"{function}: CodeUri {spec.code_uri} does not exist"
    module, _, attribute = spec.handler.rpartition(".")
    assert module and attribute, f"{function}: Handler must be module.function"
    assert (code / (module.replace(".", "/") + ".py")).is_file(), f"{function}: no {module}.py"


@pytest.mark.parametrize("function", _FUNCTIONS)
def test_handler_imports(template, project_root, function):
    """Import the handler in a fresh interpreter laid out like Lambda: the function's
    directory and the library (src/, the CloudphotLayer's content) on sys.path."""
    spec = functions(template)[function]
    module, _, attribute = spec.handler.rpartition(".")
    script = textwrap.dedent(f"""
        import importlib, sys
        sys.path[:0] = [{str(project_root / spec.code_uri)!r}, {str(project_root / "src")!r}]
        handler = getattr(importlib.import_module({module!r}), {attribute!r})
        assert callable(handler), handler
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_TRACE_DISABLED="1",
        PYTHONPATH="",
    )
    env.update(_resolved_env(template, spec.environment))
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=project_root / spec.code_uri,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{function}: {spec.handler} does not import:\n{done.stderr}"


def _resolved_env(template: dict, variables: dict) -> dict[str, str]:
    """The function's environment with Refs resolved to the names moto_stack would use."""
    names = physical_names(template)
    out = {}
    for key, value in variables.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in names:
                out[key] = names[ref]["Ref"]
            elif ref in template.get("Parameters", {}):
                out[key] = str(template["Parameters"][ref].get("Default", ""))
    return out


@pytest.mark.parametrize("function", _FUNCTIONS)
def test_environment_covers_settings(template, function):
    """Every variable Settings reads on AWS is set, and points at the right resource."""
    env = functions(template)[function].environment
    assert REQUIRED_ENV <= set(env), f"{function}: missing {sorted(REQUIRED_ENV - set(env))}"
    assert not (LAMBDA_RESERVED & set(env)), f"{function}: sets reserved variables"
    assert env["CLOUDPHOT_BACKEND"] == "aws"
    settings = Settings.from_env(env=_resolved_env(template, env))
    names = physical_names(template)
    for logical in BUCKET_ENV:
        assert settings.bucket(logical) == names[logical.title() + "Bucket"]["Ref"], logical
    for logical in TABLE_ENV:
        assert settings.table(logical) == names[table_logical_id(logical)]["Ref"], logical


def test_photometry_task_environment_covers_settings(template, resources):
    (container,) = resources["PhotometryTaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert REQUIRED_ENV <= set(env)
    settings = Settings.from_env(env=_resolved_env(template, env))
    assert settings.backend == "aws"
    names = physical_names(template)
    for logical in BUCKET_ENV:
        assert settings.bucket(logical) == names[logical.title() + "Bucket"]["Ref"], logical
    for logical in TABLE_ENV:
        assert settings.table(logical) == names[table_logical_id(logical)]["Ref"], logical


def test_globals(template):
    glob = template["Globals"]["Function"]
    assert glob["Architectures"] == ["x86_64"]
    assert glob["Tracing"] == "Active"
    # Runtime and Layers live on each zip function: an image function may not have them
    assert "Runtime" not in glob and "Layers" not in glob
    for lid, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        if props.get("PackageType") == "Image":
            assert not {"Runtime", "Layers", "Handler"} & set(props), lid
            assert res["Metadata"]["Cloudphot"]["LocalHandler"], lid
        else:
            assert props["Runtime"] == "python3.11", lid
            assert {"ScienceLayer", "CloudphotLayer"} <= references(props["Layers"]), lid
    variables = glob["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "cloudphot"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "cloudphot"
    assert "LOG_LEVEL" in variables


def test_layers(resources, project_root):
    science = resources["ScienceLayer"]
    assert science["Metadata"]["BuildMethod"] == "python3.11"
    assert (project_root / science["Properties"]["ContentUri"] / "requirements.txt").is_file()
    library = resources["CloudphotLayer"]
    meta = library["Metadata"]
    assert meta["BuildMethod"] == "makefile"
    makefile = project_root / meta["ContextPath"] / "Makefile"
    assert "build-CloudphotLayer:" in makefile.read_text(encoding="utf-8")
    # cached builds hash ContentUri: it must contain the library, or edits would not rebuild it
    assert (
        project_root / library["Properties"]["ContentUri"] / "cloudphot" / "__init__.py"
    ).is_file()
    for layer in (science, library):
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.11"]


def test_no_parent_paths_in_requirements(project_root):
    """The library ships from the one package: no requirements file reaches outside its folder."""
    files = [
        *project_root.glob("layers/**/requirements*.txt"),
        *project_root.glob("functions/**/requirements*.txt"),
    ]
    assert files
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            assert "../" not in line.split("#", 1)[0], f"{path}: {line}"


def test_photometry_task_definition(resources):
    task = resources["PhotometryTaskDefinition"]
    assert task["Metadata"]["Cloudphot"]["LocalEntryPoint"] == "ecs_tasks/photometry/entrypoint.py"
    props = task["Properties"]
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert (props["Cpu"], props["Memory"]) == ("4096", "16384")
    (container,) = props["ContainerDefinitions"]
    assert container["Name"] == "photometry"
    assert container["StopTimeout"] == 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    cluster = resources["PhotometryCluster"]["Properties"]
    assert cluster["CapacityProviders"] == ["FARGATE_SPOT", "FARGATE"]
    assert cluster["DefaultCapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE_SPOT"
    assert resources["PhotometryRepository"]["Properties"]["ImageScanningConfiguration"] == {
        "ScanOnPush": True
    }
