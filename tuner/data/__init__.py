"""Datasets: named ones looked up in known places, or paths; loaded once per process, as bytes."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuner.data.cache import FolderImages, load_image_folder
from tuner.data.catalog import NAMED, Location, NamedDataset, candidate_locations
from tuner.data.formats import RawData, find_idx_files, read_idx_dir, read_npz
from tuner.data.images import fit_images, read_csv
from tuner.data.rows import Rows
from tuner.data.split import fingerprint, stratified_split, stratified_subset
from tuner.errors import CnnTuneError

__all__ = [
    "IMAGES",
    "LEGACY_IMAGES",
    "LEGACY_PIXELS",
    "NAMED",
    "PIXELS",
    "Dataset",
    "Rows",
    "available_datasets",
    "load_dataset",
    "locate",
    "pipeline_identity",
    "recorded_pipeline",
]

# How images are held and handed to the model (the run identity's "pixels"): "uint8", pixel values
# as the files store them, a quarter of float32's memory, scaled to [0, 1] by the model's first
# layer; "float32", scaled in NumPy before training, as runs recorded without it were trained (the
# two differ in the last bit of some pixels, so a run is reproduced the way it was trained).
PIXELS = "uint8"
LEGACY_PIXELS = "float32"
# How an image folder's splits are held (the run identity's "images"): "batched", as `Rows` of
# the decoded images (memory-mapped from the cache, see tuner.data.cache), which training reads a
# batch at a time in its own seeded order; "memory", copied into arrays that Keras batches and
# shuffles, as runs recorded without it were trained.
IMAGES = "batched"
LEGACY_IMAGES = "memory"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images with shape (N, H, W, C) and integer labels, and where they came from. Images are uint8
    pixel values when the source stores bytes (`scale` is then what the model multiplies them by),
    else float32 in [0, 1] (`scale` None); an image folder's are `Rows` of its decoded images."""

    name: str
    source: str
    fingerprint: str
    class_names: tuple[str, ...]
    x_train: np.ndarray | Rows
    y_train: np.ndarray
    x_val: np.ndarray | Rows
    y_val: np.ndarray
    x_test: np.ndarray | Rows
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def scale(self) -> float | None:
        """What the model's first layer multiplies the pixels by (None: they are in [0, 1] already)."""
        return 1 / 255 if self.x_train.dtype == np.uint8 else None

    @property
    def batched(self) -> bool:
        """Whether the images are `Rows`, which training reads a batch at a time (see IMAGES)."""
        return isinstance(self.x_train, Rows)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "input_shape": list(self.input_shape),
            "classes": len(self.class_names),
            "class_names": list(self.class_names),
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": len(self.y_test),
        }


def _read_path(
    path: Path, color: str = "grayscale", size: tuple[int, int] | None = None
) -> tuple[RawData | FolderImages, tuple[str, ...]]:
    """Raw arrays, or an image folder's decoded images, and class names (empty when the files do not name them)."""
    if path.is_dir():
        if any(path.glob("*idx[13]-ubyte*")):  # IDX files, complete or not: the IDX reader says which lack
            return read_idx_dir(path), ()
        images = load_image_folder(path, color, size)
        return images, images.classes
    if path.suffix == ".npz":
        return read_npz(path), ()
    if path.suffix == ".csv":
        return read_csv(path), ()
    raise CnnTuneError(
        f"{path}: not a dataset; give a folder of IDX files, a folder of class sub-folders of images, "
        "a pixel CSV, or an .npz with x_train/y_train/x_test/y_test"
    )


def _holds_data(path: Path) -> bool:
    return (path.is_dir() and find_idx_files(path) is not None) or (path.is_file() and path.suffix == ".npz")


def locate(named: NamedDataset) -> tuple[Location | None, list[str]]:
    """The first place holding `named`, and every place tried before it."""
    locations, tried = candidate_locations(named)
    for location in locations:
        if _holds_data(location.path):
            return location, tried
        tried.append(f"{location.path} ({location.where}: not there)")
    return None, tried


def _keras_download(named: NamedDataset) -> RawData:
    from tuner.training.backend import keras

    module = getattr(keras.datasets, named.keras_module)
    (x_train, y_train), (x_test, y_test) = module.load_data()
    return x_train, y_train, x_test, y_test


def _read_named(named: NamedDataset) -> tuple[RawData, str]:
    location, tried = locate(named)
    if location is not None:
        raw = _read_path(location.path)[0]
        assert not isinstance(raw, FolderImages), "named datasets are IDX or .npz files"
        return raw, f"{location.path} ({location.where})"
    if os.environ.get("CNN_TUNE_OFFLINE"):
        tried.append("Keras download (skipped: CNN_TUNE_OFFLINE is set)")
    else:
        try:
            return _keras_download(named), "Keras download"
        except Exception as exc:
            tried.append(f"Keras download (failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
    folders = " or ".join(f"{f}/" for f in named.folders)
    raise CnnTuneError(
        f"dataset {named.name!r} not found; tried: {'; '.join(tried)}. "
        f"Set CNN_TUNE_DATA to a folder holding {folders} with the four IDX .gz files, or give the dataset's path"
    )


def _check(raw: RawData, source: str) -> RawData:
    x_train, y_train, x_test, y_test = raw
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise CnnTuneError(
                f"{source}: {len(x)} {name} images but {len(y)} labels; the files do not belong together"
            )
        if len(x) == 0:
            raise CnnTuneError(f"{source}: the {name} set is empty")
        if x.ndim not in (3, 4):
            raise CnnTuneError(f"{source}: {name} images must have shape (N, H, W) or (N, H, W, C), got {x.shape}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise CnnTuneError(f"{source}: train images are {x_train.shape[1:]} but test images {x_test.shape[1:]}")
    return raw


def _as_images(x: np.ndarray, pixels: str) -> np.ndarray:
    """(N, H, W, C) images: bytes kept as they are (`pixels` "uint8"), anything else float32 in [0, 1]."""
    if not (pixels == "uint8" and x.dtype == np.uint8):
        x = x.astype(np.float32)
        if x.max(initial=0) > 1.0:
            x /= 255.0
    return x[..., np.newaxis] if x.ndim == 3 else x


def _batched(
    name: str, source: str, images: FolderImages, validation_split: float, seed: int, train_limit: int | None
) -> Dataset:
    """An image folder's splits as `Rows` of its decoded images: the rows a copy would hold, none copied."""
    rows, y_train = images.train, images.y[images.train]
    if train_limit is not None:
        keep = stratified_subset(y_train, train_limit, seed)
        rows, y_train = rows[keep], y_train[keep]
    train_idx, val_idx = stratified_split(y_train, validation_split, seed)
    return Dataset(
        name=name,
        source=source,
        fingerprint=images.fingerprint,
        class_names=images.classes,
        x_train=Rows(images.x, rows[train_idx]),
        y_train=y_train[train_idx],
        x_val=Rows(images.x, rows[val_idx]),
        y_val=y_train[val_idx],
        x_test=Rows(images.x, images.test),
        y_test=images.y[images.test],
    )


@functools.lru_cache(maxsize=4)
def load_dataset(
    spec: str,
    validation_split: float = 0.1,
    seed: int = 0,
    train_limit: int | None = None,
    color: str = "grayscale",
    image_size: tuple[int, int] | None = None,
    pixels: str = PIXELS,
    images: str = IMAGES,
) -> Dataset:
    """Load a named dataset or a path once per process; hold out a stratified validation split.
    `color` and `image_size` apply to image folders; `pixels` is how images are held (see PIXELS),
    `images` how an image folder's splits are (see IMAGES)."""
    named = NAMED.get(spec)
    if named is not None:
        raw, source = _read_named(named)
        class_names = named.class_names
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise CnnTuneError(f"dataset {spec!r} is neither a known name ({', '.join(NAMED)}) nor an existing path")
        (found, class_names), source = _read_path(path, color, image_size), str(path.resolve())
        if isinstance(found, FolderImages):
            if images == IMAGES and pixels == PIXELS:
                return _batched(path.name, source, found, validation_split, seed, train_limit)
            raw = found.raw()
        else:
            raw = found
    x_train, y_train, x_test, y_test = _check(raw, source)
    if x_train.dtype == np.uint8:
        x_train, x_test = fit_images(x_train, color, image_size), fit_images(x_test, color, image_size)
    y_train, y_test = y_train.astype(np.int32).reshape(-1), y_test.astype(np.int32).reshape(-1)
    if not class_names:
        count = int(max(y_train.max(), y_test.max())) + 1
        class_names = tuple(str(c) for c in range(count))
    if y_train.min() < 0 or max(y_train.max(), y_test.max()) >= len(class_names):
        raise CnnTuneError(f"{source}: labels must lie in 0..{len(class_names) - 1}")
    digest = fingerprint(x_train, y_train, x_test, y_test)
    if train_limit is not None:
        keep = stratified_subset(y_train, train_limit, seed)
        x_train, y_train = x_train[keep], y_train[keep]
    train_idx, val_idx = stratified_split(y_train, validation_split, seed)
    return Dataset(
        name=named.name if named else Path(spec).name,
        source=source,
        fingerprint=digest,
        class_names=class_names,
        x_train=_as_images(x_train[train_idx], pixels),
        y_train=y_train[train_idx],
        x_val=_as_images(x_train[val_idx], pixels),
        y_val=y_train[val_idx],
        x_test=_as_images(x_test, pixels),
        y_test=y_test,
    )


def recorded_pipeline(identity: dict[str, Any] | None) -> dict[str, str]:
    """`load_dataset`'s `pixels` and `images` for a run recorded with `identity` (None: a new run):
    a run is loaded the way it was trained, and runs recorded without them were trained on float32
    arrays in memory."""
    if identity is None:
        return {"pixels": PIXELS, "images": IMAGES}
    return {
        "pixels": str(identity.get("pixels", LEGACY_PIXELS)),
        "images": str(identity.get("images", LEGACY_IMAGES)),
    }


def pipeline_identity(dataset: Dataset, pipeline: dict[str, str]) -> dict[str, str]:
    """What a run's identity records of how `dataset` was loaded with `pipeline` (nothing for the
    legacy ways: how pixels reach the model moves the last bits of a trial's numbers)."""
    entries = {"pixels": pipeline["pixels"]} if pipeline["pixels"] != LEGACY_PIXELS else {}
    return entries | ({"images": IMAGES} if dataset.batched else {})


def available_datasets() -> list[dict[str, str]]:
    """Each named dataset and where it would be loaded from (no data is read)."""
    rows = []
    for named in NAMED.values():
        location, _tried = locate(named)
        if location is not None:
            rows.append({"dataset": named.name, "status": "found", "where": f"{location.path} ({location.where})"})
        else:
            fallback = (
                "skipped (CNN_TUNE_OFFLINE)" if os.environ.get("CNN_TUNE_OFFLINE") else "Keras download on first use"
            )
            rows.append({"dataset": named.name, "status": "not found locally", "where": fallback})
    return rows
