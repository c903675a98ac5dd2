"""Image-classification data that is not IDX: a folder of class sub-folders of images, or a CSV of pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data.formats import RawData
from tuner.data.split import stratified_split
from tuner.errors import CnnTuneError

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderListing",
    "fit_images",
    "list_image_folder",
    "read_csv",
    "read_image",
    "split_rows",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# With no test split of its own, this share of each class is held out as the test set (fixed seed).
TEST_SHARE = 1 / 6


def held_out_test(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training and test rows of data without a test split of its own (fixed seed)."""
    return stratified_split(y, TEST_SHARE, seed=0)


def _hold_out_test(x: np.ndarray, y: np.ndarray) -> RawData:
    train, test = held_out_test(y)
    return x[train], y[train], x[test], y[test]


def read_image(path: Path, color: str, size: tuple[int, int] | None) -> np.ndarray:
    """One image file as uint8 pixels (H, W) or (H, W, 3), in `color`, resized to `size` when given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if color == "grayscale" else "RGB")
        if size is not None:
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CnnTuneError(f"{path}: cannot read the image ({exc}); remove or replace it") from None


@dataclass(frozen=True)
class FolderListing:
    """An image folder's files, found without decoding any: the class names (sorted folder names),
    the training files and labels, and the test files and labels (None: the folder has no test split)."""

    folder: Path
    classes: tuple[str, ...]
    train: tuple[tuple[Path, int], ...]
    test: tuple[tuple[Path, int], ...] | None


def _class_files(folder: Path, classes: Sequence[str], names: Sequence[str]) -> list[tuple[Path, int]]:
    files: list[tuple[Path, int]] = []
    for name in names:
        found = sorted(p for p in (folder / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise CnnTuneError(f"{folder / name}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder")
        files.extend((path, classes.index(name)) for path in found)
    return files


def list_image_folder(folder: Path) -> FolderListing:
    """Class sub-folders of images, optionally inside train/ and test/ (or val/); class names from the folders."""
    train_dir = folder / "train" if (folder / "train").is_dir() else folder
    test_dir = (
        next((folder / n for n in ("test", "val") if (folder / n).is_dir()), None) if train_dir != folder else None
    )
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise CnnTuneError(
            f"{train_dir}: an image-folder dataset needs at least two class sub-folders, found {len(classes)}"
            + (f" ({classes[0]})" if classes else "")
        )
    train = _class_files(train_dir, classes, classes)
    if test_dir is None:
        return FolderListing(folder, tuple(classes), tuple(train), None)
    unknown = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise CnnTuneError(f"{test_dir / unknown[0]}: a test class that the training folder does not have")
    present = [c for c in classes if (test_dir / c).is_dir()]
    return FolderListing(folder, tuple(classes), tuple(train), tuple(_class_files(test_dir, classes, present)))


def split_rows(listing: FolderListing, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training and test rows of the labels `y` of all the listing's files (training files
    first): its test folder's files, or with none a share of each class held out (fixed seed)."""
    if listing.test is None:
        return held_out_test(y)
    n = len(listing.train)
    return np.arange(n), np.arange(n, len(y))


def _read_pixels(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise CnnTuneError(f"{path}: cannot read the CSV ({exc})") from None
    if "label" not in frame.columns:
        raise CnnTuneError(f"{path}: a pixel CSV needs a `label` column, then one column per pixel")
    pixels = frame.drop(columns=["label"])
    side = math.isqrt(pixels.shape[1])
    if side * side != pixels.shape[1] or side == 0:
        raise CnnTuneError(f"{path}: {pixels.shape[1]} pixel columns do not make a square image")
    labels = frame["label"]
    if not pd.api.types.is_integer_dtype(labels) or labels.min() < 0:
        raise CnnTuneError(
            f"{path}: labels must be whole numbers from 0, got values from {labels.min()} to {labels.max()}"
        )
    values = pixels.to_numpy()
    if values.min() < 0 or values.max() > 255:
        raise CnnTuneError(f"{path}: pixel values must lie in 0..255, got {values.min()}..{values.max()}")
    return values.astype(np.uint8).reshape(-1, side, side), labels.to_numpy(dtype=np.int32)


def read_csv(path: Path) -> RawData:
    """`label,pixel1..pixelN` rows (the common Fashion-MNIST CSV); the test set is the sibling file named
    with `test` for `train` when there is one, else held out."""
    x, y = _read_pixels(path)
    sibling = path.with_name(path.name.replace("train", "test"))
    if sibling != path and sibling.is_file():
        x_test, y_test = _read_pixels(sibling)
        return x, y, x_test, y_test
    return _hold_out_test(x, y)


def fit_images(x: np.ndarray, color: str, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) in the space's colour and size; unchanged when they already are."""
    from PIL import Image

    rgb = x.ndim == 4 and x.shape[-1] == 3
    same_color = rgb == (color == "rgb")
    same_size = size is None or tuple(x.shape[1:3]) == tuple(size)
    if same_color and same_size:
        return x
    mode = "RGB" if color == "rgb" else "L"
    out = []
    for image in x:
        picture = Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image)
        picture = picture.convert(mode)
        if size is not None:
            picture = picture.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        out.append(np.asarray(picture, dtype=np.uint8))
    return np.stack(out)
