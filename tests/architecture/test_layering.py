"""The library's layers, checked on its import graph (docs/architecture.md explains them).

A module may import modules of its own layer or of layers below it, never above;
``runtime`` (local) and ``aws`` are siblings that never import each other; and only
the platform factory reads which backend cloudphot runs on. Every import counts,
including ones inside functions and under ``TYPE_CHECKING``: a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: top to bottom; a module belongs to the longest prefix listed
LAYERS: list[tuple[str, ...]] = [
    # entry points: the CLI, the demo, the VO services, the catalog's Python API and CLI
    ("cloudphot.cli", "cloudphot.__main__", "cloudphot.commands", "cloudphot.demo")
    + ("cloudphot.asts.worker",)  # the AST container's entry point
    + ("cloudphot.service",)
    + ("cloudphot.catalog.api", "cloudphot.catalog.commands", "cloudphot.catalog"),
    # composition: the factory and what Lambda handlers are built from
    ("cloudphot.platform", "cloudphot.platform.factory", "cloudphot.platform.handler"),
    # the two implementations of the platform
    ("cloudphot.runtime", "cloudphot.aws"),
    # views over the platform interface: tree, graph, cost model, web app
    ("cloudphot.monitor",),
    # the interface itself
    ("cloudphot.platform.base",),
    # pipeline steps (what handlers and workers run)
    ("cloudphot.pipeline", "cloudphot.dolphot", "cloudphot.catalog.steps")
    + ("cloudphot.asts.steps",),
    # domain
    (
        "cloudphot.catalog.athena_sql",
        "cloudphot.catalog.build",
        "cloudphot.catalog.covers",
        "cloudphot.catalog.fits_export",
        "cloudphot.catalog.hats",
        "cloudphot.catalog.integrity",
        "cloudphot.catalog.ids",
        "cloudphot.catalog.lightcurve",
        "cloudphot.catalog.maps",
        "cloudphot.catalog.output",
        "cloudphot.catalog.query",
        "cloudphot.catalog.schema",
        "cloudphot.catalog.shapes",
        "cloudphot.catalog.synthetic",
        "cloudphot.catalog.visits",
        "cloudphot.catalog._plots",
        "cloudphot.catalog._postgres",
        "cloudphot.photometry",
        "cloudphot.asts",
        "cloudphot.simulate",
        "cloudphot.verify",
        "cloudphot.events",
        "cloudphot.worker",
    ),
    ("cloudphot.fits", "cloudphot.psf", "cloudphot.asl"),
    # ports
    ("cloudphot.storage",),
    # foundation
    ("cloudphot.errors", "cloudphot.settings", "cloudphot.products", "cloudphot.template")
    + ("cloudphot.validate", "cloudphot"),
]

#: packages that must not import each other (the two platform implementations)
SIBLINGS = [("cloudphot.runtime", "cloudphot.aws")]


def _rank(module: str) -> tuple[int, str]:
    best: tuple[int, str] | None = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best[1])
            ):
                best = (i, prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "cloudphot").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every cloudphot import in ``path``."""
    is_pkg = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from pkg import name" may import a submodule: count it as that module
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return [(line, t) for line, t in found if t == "cloudphot" or t.startswith("cloudphot.")]


MODULES = _modules()


def test_no_module_imports_a_layer_above_it():
    upward = []
    for module, path in MODULES.items():
        here, _ = _rank(module)
        for line, target in _imports(module, path):
            there, prefix = _rank(target)
            if there < here:
                upward.append(f"{path.relative_to(SRC)}:{line}: {module} -> {target} ({prefix})")
    assert not upward, "imports of a layer above:\n" + "\n".join(upward)


@pytest.mark.parametrize(("a", "b"), SIBLINGS)
def test_the_platform_implementations_do_not_import_each_other(a, b):
    crossing = [
        f"{path.relative_to(SRC)}:{line}: {module} -> {target}"
        for module, path in MODULES.items()
        for line, target in _imports(module, path)
        for x, y in ((a, b), (b, a))
        if (module == x or module.startswith(x + "."))
        and (target == y or target.startswith(y + "."))
    ]
    assert not crossing, "\n".join(crossing)


def test_only_the_platform_factory_reads_the_backend():
    """``settings.backend`` is read in one place; settings.py defines and serialises it."""
    readers = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "backend":
                readers.append((module, node.lineno))
            elif isinstance(node, ast.Constant) and node.value == "CLOUDPHOT_BACKEND":
                readers.append((module, node.lineno))
    modules = {m for m, _ in readers}
    assert modules <= {"cloudphot.platform.factory", "cloudphot.settings"}, readers
    assert [n for m, n in readers if m == "cloudphot.platform.factory"], "the factory reads it"


def test_the_layer_table_names_only_existing_modules():
    listed = {p for layer in LAYERS for p in layer}
    missing = {p for p in listed if not any(m == p or m.startswith(p + ".") for m in MODULES)}
    assert not missing, missing


#: entry points that see only the platform, never an implementation
FRONTS = ("cloudphot.cli", "cloudphot.commands", "cloudphot.demo", "cloudphot.monitor")
FRONTS += ("cloudphot.service",)
FRONTS += ("cloudphot.catalog.api", "cloudphot.catalog.commands")
SHELL_EXCEPTIONS = {
    # the dispatch Lambda reads DynamoDB stream records: that wire format is AWS's own
    ("functions/dispatch/app.py", "cloudphot.aws.dispatch"),
    # the deploy-support custom resource speaks CloudFormation, IAM, ECR and CodeBuild
    # (it runs while the stack deploys, before any platform exists)
    ("functions/deploy_support/app.py", "cloudphot.aws.deploy_support"),
    # `cloudphot aws doctor` reads the account before any stack (or platform) exists
    ("cloudphot/commands/aws.py", "cloudphot.aws.account"),
}


def _shells() -> dict[str, Path]:
    root = SRC.parent
    files = sorted(root.glob("functions/*/app.py")) + sorted(root.glob("ecs_tasks/*/*.py"))
    return {str(f.relative_to(root)): f for f in files}


def test_commands_monitor_and_handlers_see_only_the_platform():
    seen = []
    fronts = {
        m: p for m, p in MODULES.items() if any(m == f or m.startswith(f + ".") for f in FRONTS)
    }
    for module, path in fronts.items():
        seen += [(str(path.relative_to(SRC)), line, t) for line, t in _imports(module, path)]
    for rel, path in _shells().items():
        seen += [(rel, line, t) for line, t in _imports("__main__", path)]
    crossing = [
        (where, line, target)
        for where, line, target in seen
        if target.startswith(("cloudphot.runtime", "cloudphot.aws"))
    ]
    leaks = [f"{w}:{n}: {t}" for w, n, t in crossing if (w, t) not in SHELL_EXCEPTIONS]
    assert not leaks, "\n".join(leaks)
    stale = SHELL_EXCEPTIONS - {(w, t) for w, _, t in crossing}
    assert not stale, f"exceptions no code needs any more, remove them: {sorted(stale)}"


#: modules outside aws/ that may talk to AWS's SDK directly, and why
BOTO3_EXCEPTIONS = {
    # the VO services' own AWS entry point (API Gateway + Lambda through Mangum): its
    # UWS job store (DynamoDB), job runner (Step Functions), presigned result URLs and
    # per-user role sessions (STS) are adapters of service/'s ports, which aws/ (a
    # layer below) cannot import
    "cloudphot.service.aws",
    # the local stand-in for Step Functions' DynamoDB integration speaks its wire format
    # (typed AttributeValues) with the SDK's own serializer; it opens no client
    "cloudphot.runtime.dynamodb",
}


def test_only_the_aws_adapters_import_boto3():
    """The domain never sees boto3; a new AWS call goes into aws/ behind a port."""
    users = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n.split(".")[0] in ("boto3", "botocore", "mypy_boto3") for n in names):
                users.add(module)
    outside = {m for m in users if m != "cloudphot.aws" and not m.startswith("cloudphot.aws.")}
    assert outside <= BOTO3_EXCEPTIONS, sorted(outside - BOTO3_EXCEPTIONS)
    assert BOTO3_EXCEPTIONS <= outside, f"stale: {sorted(BOTO3_EXCEPTIONS - outside)}"
