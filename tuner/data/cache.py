"""Image folders decoded once: a memory-mapped array file per folder, colour and size, that every
later load maps instead of decoding, in every process (workers, `reproduce`, `inspect`, a resume).

An entry is a folder under `cache_root()` named by a key computed without decoding anything: the
folder's path, every image file's relative path, size and modification time, the colour and the
size the space asks for. It holds `x.npy` (every image, training files first, in the listing's
order), `y.npy` (their labels) and `meta.json` (the class names, the train/test split, the data
fingerprint, and a CRC-32 of each array file), written last: an entry without it is unfinished. An
entry is built in a scratch folder and renamed into place, under a lock file, so workers starting
together decode once and the others wait for it. On every load the arrays' sizes and CRCs are
checked (a few tenths of a second per GB); an entry that fails is removed and built again.

The cache holds what the images take decoded (height x width x channels bytes each). After an entry
is built, the least recently used others are removed while the cache is over its limit
(`CNN_TUNE_CACHE_LIMIT_GB`, 20 by default); removing the folder by hand is always safe.
`CNN_TUNE_CACHE` moves it; `CNN_TUNE_CACHE=off` (or `--no-data-cache`) decodes into memory instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import mmap
import os
import shutil
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data.decode import decode_files
from tuner.data.images import FolderListing, list_image_folder, split_rows
from tuner.data.split import fingerprint_rows
from tuner.errors import CnnTuneError

__all__ = ["CACHE_VERSION", "FolderImages", "cache_enabled", "cache_root", "load_image_folder"]

CACHE_VERSION = 1
LIMIT_GB = 20.0
OFF = ("off", "0", "no", "false")


@dataclass(frozen=True, eq=False)
class FolderImages:
    """An image folder decoded: `x` every image (memory-mapped when cached) and `y` the labels, in
    the listing's order; `train` and `test` the rows of each split; the data fingerprint of the
    split arrays (as `tuner.data.split.fingerprint` gives it); `cached` where x lives, if mapped."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    classes: tuple[str, ...]
    fingerprint: str
    cached: Path | None = None

    def raw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The split as four arrays in memory (copies of the rows)."""
        return self.x[self.train], self.y[self.train], self.x[self.test], self.y[self.test]


def cache_root() -> Path:
    """Where entries live: `CNN_TUNE_CACHE`, else the user's cache folder."""
    configured = os.environ.get("CNN_TUNE_CACHE", "")
    if configured and configured.lower() not in OFF:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cnn-tune" / "images"


def cache_enabled() -> bool:
    return os.environ.get("CNN_TUNE_CACHE", "").lower() not in OFF


def _limit_bytes() -> float:
    raw = os.environ.get("CNN_TUNE_CACHE_LIMIT_GB", "")
    try:
        return float(raw) * 1e9 if raw else LIMIT_GB * 1e9
    except ValueError:
        raise CnnTuneError(f"CNN_TUNE_CACHE_LIMIT_GB={raw!r}: give a number of gigabytes, such as 20") from None


def _key(listing: FolderListing, color: str, size: tuple[int, int] | None) -> str:
    digest = hashlib.sha256()
    head = [CACHE_VERSION, str(listing.folder.resolve()), color, list(size) if size else None, listing.test is None]
    digest.update(json.dumps(head).encode())
    for path, label in [*listing.train, *(listing.test or ())]:
        stat = path.stat()
        digest.update(f"{path.relative_to(listing.folder)}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _crc(path: Path) -> int:
    """The file's CRC-32, read through a mapping (no copy; the pages stay cached for training)."""
    crc = 0
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return crc
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for start in range(0, len(view), 1 << 24):
                    crc = zlib.crc32(view[start : start + (1 << 24)], crc)
            finally:
                view.release()
    return crc


def _decode(listing: FolderListing, color: str, size: tuple[int, int] | None, folder: Path | None) -> FolderImages:
    """Decode every file of `listing`, into `folder`'s x.npy when given (a memory-mapped file)."""
    files = [*listing.train, *(listing.test or ())]
    y = np.asarray([label for _, label in files], dtype=np.int32)

    def mapped(shape: tuple[int, ...]) -> np.ndarray:
        assert folder is not None
        x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.uint8, shape=shape)
        with open(folder / "x.npy", "r+b") as f:  # the disk space now: a full disk is an error, not a SIGBUS
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
        return x

    x = decode_files([p for p, _ in files], color, size, out=mapped if folder is not None else None)
    train, test = split_rows(listing, y)
    digest = fingerprint_rows(x, y, train, test)
    return FolderImages(x, y, train, test, listing.classes, digest)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open(entry: Path, verify: bool = True) -> FolderImages | None:
    """The entry's arrays mapped, or None when it is missing, unfinished or damaged (its files'
    sizes, and with `verify` their CRCs, against its record)."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("version") != CACHE_VERSION:
            return None
        for name, (size, crc) in meta["files"].items():
            if (entry / name).stat().st_size != size or (verify and _crc(entry / name) != crc):
                return None
        x = np.load(entry / "x.npy", mmap_mode="r")
        y = np.load(entry / "y.npy")
        train, test = np.asarray(meta["train"], dtype=np.int64), np.asarray(meta["test"], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(x) != len(y) or len(train) + len(test) != len(y):
        return None
    os.utime(entry / "meta.json")  # last used, for the limit's clean-up
    return FolderImages(x, y, train, test, tuple(meta["classes"]), str(meta["fingerprint"]), entry)


def _write(entry: Path, listing: FolderListing, color: str, size: tuple[int, int] | None) -> None:
    scratch = entry.with_name(f"{entry.name}.building-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        images = _decode(listing, color, size, scratch)
        assert isinstance(images.x, np.memmap)
        images.x.flush()
        np.save(scratch / "y.npy", images.y)
        files = {name: [(scratch / name).stat().st_size, _crc(scratch / name)] for name in ("x.npy", "y.npy")}
        meta = {
            "version": CACHE_VERSION,
            "folder": str(listing.folder.resolve()),
            "color": color,
            "size": list(size) if size else None,
            "classes": list(listing.classes),
            "train": images.train.tolist(),
            "test": images.test.tolist(),
            "fingerprint": images.fingerprint,
            "files": files,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (scratch / "meta.json").write_text(json.dumps(meta))
        del images
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(scratch, entry)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _size(entry: Path) -> int:
    return sum(f.stat().st_size for f in entry.iterdir() if f.is_file())


def _clean(root: Path, keep: Path) -> None:
    """Remove the least recently used entries other than `keep` while the cache is over its limit."""
    entries = [e for e in root.iterdir() if e.is_dir() and (e / "meta.json").exists()]
    total = sum(_size(e) for e in entries)
    for entry in sorted(entries, key=lambda e: (e / "meta.json").stat().st_mtime):
        if total <= _limit_bytes():
            return
        if entry != keep:
            total -= _size(entry)
            shutil.rmtree(entry, ignore_errors=True)


def load_image_folder(folder: Path, color: str = "grayscale", size: tuple[int, int] | None = None) -> FolderImages:
    """The folder's images decoded, from the cache when it holds them (else decoded into it), or
    into memory when the cache is off."""
    listing = list_image_folder(folder)
    if not cache_enabled():
        return _decode(listing, color, size, None)
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnTuneError(
            f"{root}: cannot create the image cache ({exc.strerror}); set CNN_TUNE_CACHE to a writable folder "
            "or pass --no-data-cache"
        ) from None
    entry = root / _key(listing, color, size)
    found = _open(entry)
    if found is not None:
        return found
    with _locked(root / f"{entry.name}.lock"):
        found = _open(entry)  # another process may have built it while this one waited
        if found is None:
            try:
                _write(entry, listing, color, size)
            except OSError as exc:  # a full disk, say: the images still load, into memory
                print(f"image cache {entry}: cannot write it ({exc.strerror}); decoding into memory", file=sys.stderr)
                return _decode(listing, color, size, None)
            found = _open(entry, verify=False)  # its CRCs were just read from these files
            if found is None:
                raise CnnTuneError(f"{entry}: the image cache entry just written does not read back; remove it")
            _clean(root, entry)
    return found
