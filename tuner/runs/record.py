"""What a run records about itself: what was run, with which packages, and its identity.

The identity is what must match for a resume (or for a host joining a shared study) to be the
same search: the space file, engine, algorithm, data fingerprint, limits, seed and pinned values.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["PACKAGES", "identity_difference", "mask_url", "new_record", "versions"]

PACKAGES = (
    "cnn-tune",
    "tensorflow",
    "tensorflow-cpu",
    "jax",
    "jaxlib",
    "torch",
    "keras",
    "keras-tuner",
    "optuna",
    "numpy",
    "pandas",
)


_PASSWORD = re.compile(r"(://[^:/@]+):[^@/]*@")


def mask_url(url: str) -> str:
    """The storage URL with any password replaced by ***."""
    return _PASSWORD.sub(r"\1:***@", url)


def versions() -> dict[str, str]:
    """Python's and the installed packages' versions that decide a trial's numbers."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def identity_difference(recorded: dict[str, Any], identity: dict[str, Any]) -> str | None:
    """How a search's identity differs from the one recorded (the recorded values, or "a different space
    file"), or None when it is the same search."""
    differing = sorted(k for k in set(recorded) | set(identity) if recorded.get(k) != identity.get(k))
    if not differing:
        return None
    if differing == ["space"]:
        return "a different space file"
    return ", ".join(f"{k}={recorded.get(k)!r}" for k in differing if k != "space")


def new_record(name: str, command: list[str], storage: str, **fields: Any) -> dict[str, Any]:
    """run.json's record of a new run: its name, when and how it was started, what it searches
    (`fields`: space, engine, algorithm, pruner, seed, dataset, ...) and the package versions."""
    return {
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": [mask_url(arg) for arg in command],  # no password from a storage URL
        **fields,
        "storage": mask_url(storage),
        "versions": versions(),
    }
