"""The README and the docs/ pages it links stay true: every relative link and every path they name
exists, and every `cnn-tune` command in their code blocks is accepted with its values checked,
without training (a `run` goes as far as the search's plan; `reproduce` and `inspect` as far as the
trial they name; the others run against small runs made with a scripted trainer)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from conftest import scripted_runner
from typer.testing import CliRunner

from tuner.cli import app

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The run folder the README's main command writes (`reports/<space>-<engine>-<algorithm>`): the examples
# read it, so paths under it are outputs, not files the repository must hold.
RUN = "reports/exercise3-optuna-cost-tpe"
OTHER_RUN = "reports/exercise3-optuna-tpe"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"\]\(([^)\s]+)\)")
NAMED_PATH = re.compile(r"`((?:reports|docs|benchmarks|tests|tuner|search_spaces)/[^`\s]*)`")


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(line.lstrip("#")) for line in _prose(page.read_text()).splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_and_named_path_exists(page: Path) -> None:
    text = page.read_text()
    missing = []
    for target in LINK.findall(_prose(text)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            missing.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            missing.append(f"{target} (no such heading)")
    for named in NAMED_PATH.findall(_prose(text)):
        if "<" in named or named.startswith(RUN):
            continue
        if not (ROOT / named.rstrip("/")).exists():
            missing.append(named)
    assert not missing, f"{page.name} names what does not exist: {missing}"


def _commands(page: Path) -> list[list[str]]:
    """Each `cnn-tune ...` command of the page's bash blocks, as its arguments after `cnn-tune`."""
    found = []
    for language, body in FENCE.findall(page.read_text()):
        if language != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                command, words = words[:cut], words[cut + 1 :]
                while command and re.match(r"[A-Z_]+=", command[0]):  # VAR=value cnn-tune ...
                    command = command[1:]
                if command[:1] == ["cnn-tune"]:
                    found.append(command[1:])
    return found


COMMANDS = [(page.name, args) for page in PAGES for args in _commands(page)]


def test_the_pages_hold_commands() -> None:
    names = {args[0] for _, args in COMMANDS if args}
    assert {"run", "report", "reproduce", "inspect", "watch", "compare"} <= names, names


class _Reached(Exception):
    """Raised where a command would start training: it got that far with every value accepted."""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A folder holding the two runs the examples read, made with the scripted trainer."""
    from tuner.search import Budget, SearchSettings, run_search

    folder = tmp_path_factory.mktemp("readme")
    patch = pytest.MonkeyPatch()
    patch.setenv("CNN_TUNE_DATA", str(data_root))
    try:
        for algorithm in ("cost-tpe", "tpe"):
            settings = SearchSettings(
                space="exercise3", algorithm=algorithm, budget=Budget(trials=8), out=folder / "reports", train_limit=200
            )
            run_search(settings, run_trial=scripted_runner())
    finally:
        patch.undo()
    assert (folder / RUN / "run.json").exists() and (folder / OTHER_RUN / "run.json").exists()
    return folder


@pytest.mark.parametrize(("page", "args"), COMMANDS, ids=[f"{p}: {' '.join(a)}" for p, a in COMMANDS])
def test_each_command_is_accepted(
    page: str, args: list[str], workspace: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tuner.search
    from tuner.search.session import plan

    # the modules, not the functions of the same name that `tuner.runs` exports
    retraining = importlib.import_module("tuner.runs.reproduce")
    maps = importlib.import_module("tuner.runs.feature_maps")

    for extra in _extras(args):
        if importlib.util.find_spec(extra) is None:
            pytest.skip(f"the command needs {extra}, which is not installed")
    monkeypatch.chdir(workspace)
    seen: dict[str, Any] = {}

    def planned(settings: Any, observer: Any = None) -> None:
        seen["plan"] = plan(settings)
        raise _Reached

    def retrained(run: Any, trial: Any = None, **options: Any) -> None:
        seen["trial"] = run.trial_number(trial)
        raise _Reached

    def mapped(run: Any, trial: int, images: list[int], filter_index: int) -> None:
        seen["trial"] = trial
        raise _Reached

    monkeypatch.setattr(tuner.search, "run_search", planned)
    monkeypatch.setattr(retraining, "reproduce", retrained)
    monkeypatch.setattr(maps, "feature_maps", mapped)
    if any("postgresql://" in arg for arg in args) and args[0] != "run":
        _parse_only(args)  # reading a shared study needs its server
        return
    result = CliRunner().invoke(app, args, env={"COLUMNS": "120"})
    if args[0] in ("run", "reproduce", "inspect"):
        assert isinstance(result.exception, _Reached), result.output
        assert seen, args
    else:
        assert result.exit_code == 0, result.output


def _extras(args: list[str]) -> list[str]:
    """The optional packages a command line needs: its backend's framework, tensorboard for its log."""
    from tuner.training.backend import BACKENDS

    needed = [BACKENDS[args[i + 1]][0] for i, arg in enumerate(args[:-1]) if arg == "--backend"]
    return needed + (["tensorboard"] if "--tensorboard" in args else [])


def _parse_only(args: list[str]) -> None:
    """Parse a command line as click does, every option converted and checked, without running it."""
    import typer

    group: Any = typer.main.get_command(app)
    parent = group.context_class(group, info_name="cnn-tune")
    command = group.get_command(parent, args[0])
    assert command is not None, args
    command.make_context(args[0], list(args[1:]), parent=parent)
