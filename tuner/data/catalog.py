"""Named datasets and where to look for them: $CNN_TUNE_DATA, then /usr/share/datasets, then the Keras
cache (the lookup and the Keras download after it are described in README.md's "Datasets" section)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NAMED", "Location", "NamedDataset", "candidate_locations"]

DIGITS = tuple(str(d) for d in range(10))
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class NamedDataset:
    name: str
    folders: tuple[str, ...]
    keras_cache: tuple[str, ...]
    keras_module: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]


NAMED: dict[str, NamedDataset] = {
    "mnist": NamedDataset("mnist", ("mnist",), ("mnist.npz", "mnist"), "mnist", (28, 28, 1), DIGITS),
    "fashion_mnist": NamedDataset(
        "fashion_mnist",
        ("fashion_mnist", "fashion-mnist"),
        ("fashion-mnist",),
        "fashion_mnist",
        (28, 28, 1),
        FASHION,
    ),
}


@dataclass(frozen=True)
class Location:
    """One place a named dataset may be: `where` says how it was found (shown by `cnn-tune datasets`)."""

    where: str
    path: Path


def candidate_locations(dataset: NamedDataset) -> tuple[list[Location], list[str]]:
    """Places to try in order, and notes on sources that were skipped (for the not-found message)."""
    locations: list[Location] = []
    notes: list[str] = []
    root = os.environ.get("CNN_TUNE_DATA")
    if root:
        for folder in dataset.folders:
            base = Path(root).expanduser() / folder
            locations += [Location("CNN_TUNE_DATA", base), Location("CNN_TUNE_DATA", base.with_suffix(".npz"))]
    else:
        notes.append("CNN_TUNE_DATA (not set)")
    for folder in dataset.folders:
        locations.append(Location("system", Path("/usr/share/datasets") / folder))
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"
    for entry in dataset.keras_cache:
        locations.append(Location("Keras cache", keras_home / entry))
    return locations, notes
