"""The package's layout: no import cycle among its modules, and reading a run never loads optuna."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import make_settings, scripted_runner

from tuner.search import run_search

PACKAGE = Path(__file__).resolve().parent.parent / "tuner"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere (at the top or in a function), except for type checking."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tuner"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tuner")}
    return {m for m in found if m in modules} - {_module(path)}


def test_no_import_cycle_among_the_modules() -> None:
    paths = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) for name, path in paths.items()}
    # package faces only hand names on; an arrow into a package is an arrow into its modules
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [name, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state and not paths[name].name == "__init__.py":
            visit(name, [name])
    faces = {n for n, p in paths.items() if p.name == "__init__.py"}
    real = [c for c in cycles if not set(c) & faces]
    assert real == []


def _imported(*args: str, env: dict[str, str]) -> set[str]:
    """The top-level packages loaded by `cnn-tune ARGS` in a fresh process (the same `python -X importtime`
    lists, but also through the quiet stderr TensorFlow's import runs under)."""
    code = (
        "import atexit, json, sys; "
        "atexit.register(lambda: print('MODULES=' + json.dumps(sorted(sys.modules)))); "
        f"sys.argv = ['cnn-tune', *{list(args)!r}]; "
        "from tuner.cli import entry; entry()"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert probe.returncode in (0, 1), probe.stderr[-2000:]
    loaded = json.loads(probe.stdout.rsplit("MODULES=", 1)[1])
    return {name.split(".")[0] for name in loaded} | {n for n in loaded if n.startswith("tuner.")}


def test_report_and_reproduce_of_a_folder_run_load_neither_optuna_nor_sqlalchemy(
    tmp_path: Path, tiny_data: Path
) -> None:
    settings = make_settings(space="exercise3", out=tmp_path, trials=1, max_epochs=1, pruner="none", no_start=True)
    folder = run_search(settings, run_trial=scripted_runner()).store.path
    env = {**os.environ, "CNN_TUNE_DATA": str(tiny_data), "CNN_TUNE_OFFLINE": "1"}
    report = _imported("report", str(folder), "--format", "csv", env=env)
    assert "pandas" in report and not {"optuna", "sqlalchemy", "tensorflow"} & report
    reproduce = _imported("reproduce", str(folder), env=env)  # retrains for real; the scripted numbers differ
    assert "tuner.training.trainer" in reproduce and "keras" in reproduce
    assert not {"optuna", "sqlalchemy"} & reproduce
    assert json.loads((folder / "run.json").read_text())["engine"] == "optuna"
