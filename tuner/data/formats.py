"""Readers for image-classification files: IDX (MNIST layout, gzip or raw) and Keras-layout `.npz`."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from tuner.errors import CnnTuneError

__all__ = ["RawData", "find_idx_files", "read_idx", "read_idx_dir", "read_npz"]

RawData = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_IDX_PARTS = {
    "x_train": ("train-images", 3),
    "y_train": ("train-labels", 1),
    "x_test": ("t10k-images", 3),
    "y_test": ("t10k-labels", 1),
}


def _idx_candidates(folder: Path, stem: str, dims: int) -> list[Path]:
    names = [f"{stem}-idx{dims}-ubyte", f"{stem}.idx{dims}-ubyte"]
    return [folder / (n + ext) for n in names for ext in (".gz", "")]


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files of `folder`, or None when it does not hold a complete set."""
    found = {}
    for key, (stem, dims) in _IDX_PARTS.items():
        path = next((p for p in _idx_candidates(folder, stem, dims) if p.is_file()), None)
        if path is None:
            return None
        found[key] = path
    return found


def read_idx(path: Path, dims: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes with `dims` dimensions, checking magic number and length."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CnnTuneError(f"{path}: cannot read ({exc}); the file is truncated or damaged, fetch it again") from None
    if len(data) < 4 + 4 * dims:
        raise CnnTuneError(f"{path}: only {len(data)} bytes, too short for an IDX header; fetch it again")
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 + dims:
        raise CnnTuneError(
            f"{path}: wrong IDX magic number 0x{magic:08x}, expected 0x{0x0800 + dims:08x} "
            f"(unsigned bytes, {dims} dimensions); is this the right file?"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = memoryview(data)[4 + 4 * dims :]
    expected = int(np.prod(shape))
    if len(body) != expected:
        raise CnnTuneError(
            f"{path}: header promises {expected} bytes of data for shape {shape}, file holds {len(body)}; "
            "the file is truncated or damaged, fetch it again"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def read_idx_dir(folder: Path) -> RawData:
    files = find_idx_files(folder)
    if files is None:
        missing = [
            f"{stem}-idx{dims}-ubyte.gz"
            for stem, dims in _IDX_PARTS.values()
            if not any(p.is_file() for p in _idx_candidates(folder, stem, dims))
        ]
        raise CnnTuneError(f"{folder}: does not hold the four IDX files; missing {', '.join(missing)}")
    arrays = [read_idx(files[k], dims) for k, (_, dims) in _IDX_PARTS.items()]
    return arrays[0], arrays[1], arrays[2], arrays[3]


def read_npz(path: Path) -> RawData:
    """Read an `.npz` in the Keras layout: x_train, y_train, x_test, y_test."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in _IDX_PARTS if k not in npz.files]
            if missing:
                raise CnnTuneError(
                    f"{path}: an .npz dataset needs arrays x_train, y_train, x_test, y_test; "
                    f"missing {', '.join(missing)} (found {', '.join(npz.files) or 'none'})"
                )
            return npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"]
    except CnnTuneError:
        raise
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        raise CnnTuneError(f"{path}: cannot read the .npz ({exc}); the file is truncated or not an .npz") from None
