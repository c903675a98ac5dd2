"""The run folder: run.json, the study storage, the tables and the best configuration.

Every file is written atomically (a temporary file renamed into place), so a
crash or `kill -9` leaves either the old version or the new one, never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tuner.errors import CnnTuneError
from tuner.records import TrialRecord
from tuner.runs.record import identity_difference

if TYPE_CHECKING:
    from tuner.runs.tables import TableCache
    from tuner.space import Space

__all__ = ["RunStore", "write_atomic"]

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """One run's folder."""

    RUN_FILE = "run.json"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cache: TableCache | None = None  # the tables as this process last saved them

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        """An existing run folder (for report and later commands)."""
        folder = Path(path).expanduser()
        if not (folder / cls.RUN_FILE).is_file():
            if not folder.exists():
                raise CnnTuneError(f"run {str(path)!r} does not exist; give the folder `cnn-tune run` printed")
            raise CnnTuneError(f"{folder} is not a cnn-tune run folder (no {cls.RUN_FILE} in it)")
        return cls(folder)

    def exists(self) -> bool:
        """Whether the folder holds a run already (a resume, or a worker joining it)."""
        return (self.path / self.RUN_FILE).is_file()

    def recorded_identity(self) -> dict[str, Any]:
        """The identity of the search the folder holds ({} when there is none)."""
        return self.read_run().get("identity", {}) if self.exists() else {}

    def read_run(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / self.RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CnnTuneError(f"{self.path / self.RUN_FILE}: cannot read the run record: {exc}") from None

    def prepare(self, identity: dict[str, Any], record: dict[str, Any], join: bool = False) -> bool:
        """Create the run folder, or check that an existing one holds the same search; True when resuming.
        A worker joining a run (`join`) only checks."""
        run_file = self.path / self.RUN_FILE
        if run_file.exists():
            previous = self.read_run()
            detail = identity_difference(previous.get("identity", {}), identity)
            if detail:
                raise CnnTuneError(
                    f"{self.path} holds another search ({detail}); give the run a new name to start a new "
                    "run, or repeat the original command to resume it",
                    field="name",
                )
            if not join:
                resumed = {
                    **previous,
                    "resumed": previous.get("resumed", 0) + 1,
                    "last_command": record["command"],
                    "trials": record.get("trials", previous.get("trials")),  # --trials counts the whole study
                    "ended": None,  # running again
                }
                self.write_run(resumed)
            return True
        if self.path.exists() and any(self.path.iterdir()):
            raise CnnTuneError(
                f"{self.path} exists and is not a cnn-tune run folder; choose another name or folder", field="name"
            )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.write_run({**record, "identity": identity, "ended": None})
        except OSError as exc:
            raise CnnTuneError(f"{self.path}: cannot create the run folder: {exc}") from None
        return False

    def write_run(self, record: dict[str, Any]) -> None:
        write_atomic(self.path / self.RUN_FILE, json.dumps(record, indent=2, default=str) + "\n")

    def mark_ended(self) -> None:
        """Say in run.json when the search ended, however it ended (`cnn-tune watch` stops then);
        `prepare` sets it back to None when a session starts."""
        record = self.read_run()
        record["ended"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.write_run(record)

    def save_tables(
        self,
        trials: pd.DataFrame,
        trials_csv: str,
        history: pd.DataFrame,
        history_csv: str,
        best_config: dict[str, Any] | None,
        leaderboard_md: str,
    ) -> None:
        """Rewrite trials, history (each as its CSV text and as parquet), best/config.json and leaderboard.md."""
        write_atomic(self.path / "trials.csv", trials_csv)
        write_atomic(self.path / "history.csv", history_csv)
        for name, frame in (("trials", trials), ("history", history)):
            write_atomic(self.path / f"{name}.parquet", frame.to_parquet(index=False))
        if best_config is not None:
            write_atomic(self.path / "best" / "config.json", json.dumps(best_config, indent=2, sort_keys=True) + "\n")
        write_atomic(self.path / "leaderboard.md", leaderboard_md)

    def save_records(self, records: list[TrialRecord], space: Space, run: dict[str, Any]) -> None:
        """Write the run's tables (trials, history, best config, leaderboard) from its trial records;
        what earlier saves of this process built for the settled trials is reused."""
        from tuner.reports import leaderboard, summarize
        from tuner.reports.render import run_markdown
        from tuner.runs.tables import TableCache

        if self.cache is None:
            self.cache = TableCache([p.name for p in space.searched])
        trials, trials_csv, history, history_csv = self.cache.tables(records)
        board = leaderboard(trials, space.objective, space.stop)
        summary = summarize(trials, board, run)
        markdown = run_markdown(summary, board, run)
        self.save_tables(trials, trials_csv, history, history_csv, summary.best_config, markdown)

    def _table(self, name: str) -> pd.DataFrame:
        parquet, csv = self.path / f"{name}.parquet", self.path / f"{name}.csv"
        try:
            if parquet.exists():
                return pd.read_parquet(parquet)
            if csv.exists():
                return pd.read_csv(csv)
        except (OSError, ValueError) as exc:
            raise CnnTuneError(f"{self.path}: cannot read {name} table: {exc}") from None
        raise CnnTuneError(f"{self.path}: no {name} table yet; the run has not finished a trial")

    def trials(self) -> pd.DataFrame:
        return self._table("trials")

    def history(self) -> pd.DataFrame:
        return self._table("history")
