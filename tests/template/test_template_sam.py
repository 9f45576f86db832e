"""The template through the real sam CLI: validate + lint, then build and use the layers.

``sam build`` is the only proof that the layers build (Lambda-compatible wheels,
the Makefile) and that the library imports from them without the checkout on
sys.path. It builds into a temporary directory so the checkout stays clean.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.sam,
    pytest.mark.skipif(shutil.which("sam") is None, reason="needs the sam CLI"),
]

#: Lambda's limit on a function plus all its layers, unzipped
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: what the python3.11 runtime provides besides the standard library (/var/runtime)
LAMBDA_RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six",
    "urllib3",
)


def _sam_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["SAM_CLI_TELEMETRY"] = "0"
    env.pop("PYTHONPATH", None)  # the build must not see the checkout's src/
    return env


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_sam_validate_lint(project_root):
    done = subprocess.run(
        ["sam", "validate", "--lint", "--template-file", "template.yaml"],
        cwd=project_root,
        env=_sam_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(project_root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sam")
    build_dir = out / "build"

    def snapshot() -> set[str]:
        return {
            p.relative_to(project_root).as_posix()
            for d in (project_root, project_root / "src", project_root / "layers" / "cloudphot")
            for p in d.iterdir()
        }

    before = snapshot()
    done = subprocess.run(
        [
            "sam",
            "build",
            "--template-file",
            "template.yaml",
            "--build-dir",
            str(build_dir),
            "--no-cached",
            "--cache-dir",
            str(out / "cache"),
            "--parallel",
        ],
        cwd=project_root,
        env=_sam_env(),
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert snapshot() - before == set(), "sam build left files in the checkout"
    return build_dir


@pytest.mark.slow
def test_sam_build_builds_every_function_and_layer(built, template):
    for lid, res in template["Resources"].items():
        if res.get("Properties", {}).get("PackageType") == "Image":
            # a prebuilt image (ImageUri): built from its Dockerfile and pushed, not by sam build
            assert not (built / lid).exists(), f"{lid} is an image; sam build should skip it"
            continue
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion"):
            assert (built / lid).is_dir(), f"sam build produced nothing for {lid}"
    assert (built / "template.yaml").is_file()


@pytest.mark.slow
def test_library_imports_from_the_built_layers(built):
    """Only the two layers and the standard library: no site-packages, no PYTHONPATH."""
    layers = [built / "ScienceLayer" / "python", built / "CloudphotLayer" / "python"]
    script = textwrap.dedent(f"""
        import sys
        layers = {[str(p) for p in layers]!r}
        sys.path[:0] = layers
        import cloudphot, numpy, astropy, fitsio, yaml, aws_lambda_powertools
        from aws_lambda_powertools import Logger, Metrics, Tracer
        from cloudphot.events import load_registry
        assert len(load_registry()) > 0, "tasks.toml must ship inside the package"
        for module in (cloudphot, numpy, astropy, fitsio, yaml, aws_lambda_powertools):
            assert module.__file__.startswith(tuple(layers)), (module.__name__, module.__file__)
        assert not any("site-packages" in p for p in sys.path), sys.path
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=built,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.slow
def test_built_functions_fit_lambda_size_limit(built, template):
    sizes = {}
    for lid, res in template["Resources"].items():
        # image functions (up to 10 GB) are built from their Dockerfile, not by sam build
        if (
            res["Type"] == "AWS::Serverless::Function"
            and res["Properties"].get("PackageType") != "Image"
        ):
            total = _size(built / lid) + sum(
                _size(built / layer) for layer in _layers_of(template, lid)
            )
            sizes[lid] = total
            assert total < LAMBDA_UNZIPPED_LIMIT, f"{lid}: {total / 2**20:.0f} MiB unzipped"
    print({k: f"{v / 2**20:.0f} MiB" for k, v in sizes.items()})


@pytest.fixture(scope="module")
def lambda_runtime(tmp_path_factory) -> Path:
    """A stand-in for the runtime's own packages: boto3 and its dependencies, nothing else."""
    out = tmp_path_factory.mktemp("runtime")
    for name in LAMBDA_RUNTIME_PACKAGES:
        origin = Path(importlib.util.find_spec(name).origin)
        target = origin.parent if origin.name == "__init__.py" else origin
        (out / target.name).symlink_to(target)
    return out


#: modules a function's step imports lazily (inside the step), which importing the
#: handler alone does not reach; checked from the built layers too
LAZY_IMPORTS = {
    "PreprocessExposureFunction": ["cloudphot.photometry.preprocess"],
}
#: known gaps, each with the reason (xfail is strict: fixing one makes this list fail)
KNOWN_MISSING: dict[str, str] = {}


def _layers_of(template: dict, function: str) -> list[str]:
    """Logical ids of a function's layers as SAM deploys them: the Globals list, then the
    function's own (SAM appends list-valued properties to the Globals)."""

    def ids(layers):
        return [
            layer["Ref"] for layer in layers or [] if isinstance(layer, dict) and "Ref" in layer
        ]

    glob = template.get("Globals", {}).get("Function", {}).get("Layers")
    own = template["Resources"][function].get("Properties", {}).get("Layers")
    return ids(glob) + ids(own)


def _function_ids() -> list:
    from cloudphot.template import functions, load_template

    template = load_template()
    zips = [
        f
        for f in sorted(functions(template))
        if template["Resources"][f]["Properties"].get("PackageType") != "Image"
    ]
    return [
        pytest.param(f, marks=pytest.mark.xfail(reason=KNOWN_MISSING[f], strict=True))
        if f in KNOWN_MISSING
        else f
        for f in zips
    ]


@pytest.mark.slow
@pytest.mark.parametrize("function", _function_ids())
def test_handler_imports_as_deployed(built, lambda_runtime, template, function):
    """Each built function imports with only what Lambda will have: its own code, the
    layers and the runtime's boto3. A dependency missing from the layers fails here,
    not at the first invocation after deploying."""
    from cloudphot.template import functions

    spec = functions(template)[function]
    module, _, attribute = spec.handler.rpartition(".")
    paths = [
        built / function,
        *(built / layer / "python" for layer in _layers_of(template, function)),
        lambda_runtime,
    ]
    script = textwrap.dedent(f"""
        import importlib, sys
        sys.path[:0] = {[str(p) for p in paths]!r}
        handler = getattr(importlib.import_module({module!r}), {attribute!r})
        assert callable(handler)
        for lazy in {LAZY_IMPORTS.get(function, [])!r}:
            importlib.import_module(lazy)
    """)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "CLOUDPHOT_BACKEND": "aws",
    }
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        cwd=built / function,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{function} would not start on Lambda:\n{done.stderr[-3000:]}"
