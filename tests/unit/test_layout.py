"""The package layout is the architecture: dependencies point one way, and each
deployable function ships and loads only its own packages."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import COURSE_RIDE, REPO, make_record

PACKAGE = REPO / "streaming"

#: package -> the packages of ``streaming`` it may import (besides itself).
ALLOWED = {
    "model": set(),
    "commandline": set(),
    "consumer": {"model"},
    "esm": {"consumer"},
    "training": {"consumer", "model", "commandline", "monitoring"},
    "serving": {"consumer", "model", "commandline"},
    "downstream": {"consumer"},
    "dashboard": {"monitoring"},
    "database": set(),
    "monitoring": {"consumer", "model", "commandline", "downstream", "database"},
    "batch": {"consumer", "model", "commandline", "serving", "monitoring", "database"},
    "tools": {
        "consumer",
        "model",
        "esm",
        "training",
        "serving",
        "monitoring",
        "batch",
        "database",
        "commandline",
        "downstream",
        "dashboard",
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def streaming_imports(path: Path) -> set[str]:
    """Every ``streaming.*`` module ``path`` imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("streaming"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "streaming":  # from streaming import tlc -> streaming.tlc
                found.update(f"streaming.{a.name}" for a in node.names)
            elif node.module.startswith("streaming."):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules}


def top_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else None


def test_every_module_lives_in_a_package_of_the_architecture():
    loose = sorted(
        p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    )
    assert loose == []  # no flat room of modules beside the packages
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()} == set(ALLOWED)


def test_dependencies_point_one_way():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        home = top_package(module_name(path))
        if home is None:
            continue
        for target in streaming_imports(path):
            other = top_package(target)
            if other is not None and other != home and other not in ALLOWED[home]:
                wrong.append(f"{module_name(path)} imports {target}")
    assert wrong == []


def test_no_import_cycles_between_modules():
    graph = {module_name(p): streaming_imports(p) for p in PACKAGE.rglob("*.py")}
    for package_init in [m for m in graph if (PACKAGE / m.split(".", 1)[-1]).is_dir()]:
        graph[package_init] = set()  # a package's __init__ re-exports; not a cycle of code
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for start in sorted(graph):
        if start not in seen:
            visit(start, [start])
    assert cycles == []


#: The venv's editable install of this project would find any ``streaming.*``
#: module in the repo; a shipped function must run from its own files alone.
NO_EDITABLE_FINDER = (
    "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]\n"
)


def run_python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-c", NO_EDITABLE_FINDER + code],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOADED = (
    "import json, sys\n"
    "sys.path.insert(0, {root!r})\n"
    "import lambda_function, streaming\n"
    "event = json.loads({event!r})\n"
    "out = lambda_function.lambda_handler(event, None)\n"
    "mods = sorted(m for m in sys.modules if m == 'streaming' or m.startswith('streaming.'))\n"
    "print(json.dumps({{'modules': mods, 'file': streaming.__file__, 'out': out}}))\n"
)


def load_function(root: Path) -> dict:
    event = json.dumps({"Records": [make_record(COURSE_RIDE)]})
    proc = run_python(
        LOADED.format(root=str(root), event=event),
        root,
        TEST_RUN="True",
        AWS_DEFAULT_REGION="us-east-1",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_lambda_function_loads_only_consumer_and_model():
    result = load_function(REPO)
    outside = [
        m
        for m in result["modules"]
        if m != "streaming" and not m.startswith(("streaming.consumer", "streaming.model"))
    ]
    assert outside == []
    assert result["out"]["predictions"][0]["prediction"]["ride_id"] == 256


def test_the_function_ships_only_its_own_packages_and_runs_from_them(tmp_path):
    """What `make package` (and `sam build`) put of the project's own code in the zip."""
    root = tmp_path / "task"
    proc = subprocess.run(
        ["make", "--no-print-directory", "function-sources", f"ARTIFACTS_DIR={root}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    shipped = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    own = sorted(
        str(p.relative_to(REPO))
        for package in ("consumer", "model")
        for p in (PACKAGE / package).rglob("*.py")
    )
    expected = [
        "lambda_function.py",
        "models/metadata.json",
        "models/model.npz",
        "streaming/__init__.py",
        *own,
    ]
    assert shipped == sorted(expected)
    result = load_function(root)  # the shipped files alone are enough to run it
    assert Path(result["file"]).is_relative_to(root)
    assert result["out"]["predictions"][0]["prediction"]["ride_id"] == 256


@pytest.mark.parametrize(
    "module",
    sorted(f"bench.{p.stem}" for p in (REPO / "bench").glob("*.py") if p.stem != "__init__"),
)
def test_bench_modules_import(module):
    """bench/ is not run by CI; importing it catches a moved or renamed module."""
    importlib.import_module(module)


IMAGES = {
    # Dockerfile -> code its image runs (imported in a fresh interpreter)
    "Dockerfile": "import lambda_function",
    "web-service/Dockerfile": (
        "import streaming.serving.serve as serve\nserve.create_app()\nimport gunicorn.app.base"
    ),
}


@pytest.mark.parametrize("dockerfile", sorted(IMAGES))
def test_each_image_copies_what_it_runs_and_no_more(dockerfile, tmp_path):
    import shutil

    text = (REPO / dockerfile).read_text().replace("\\\n", " ")
    sources = [
        s
        for line in text.splitlines()
        if line.startswith("COPY")
        for s in line.split()[1:-1]
        if not s.endswith(".txt")
    ]
    root = tmp_path / "image"
    for source in sources:
        target = root / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / source, target)
    code = (
        f"import sys\nsys.path.insert(0, {str(root)!r})\n{IMAGES[dockerfile]}\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('streaming.')}))"
    )
    proc = run_python(code, root, TEST_RUN="True", AWS_DEFAULT_REGION="us-east-1")
    assert proc.returncode == 0, proc.stderr[-3000:]  # everything it imports was copied
    used = set(json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"')))
    copied = {s.split("/")[1] for s in sources if s.startswith("streaming/") and s.count("/") > 1}
    assert copied == used  # and every package it copies is used
