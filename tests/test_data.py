from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import idx_bytes, make_images, write_idx_dir

from tuner.data import available_datasets, load_dataset
from tuner.data.formats import read_idx
from tuner.data.split import fingerprint, stratified_split, stratified_subset
from tuner.errors import CnnTuneError


def test_named_dataset_from_cnn_tune_data(tiny_data: Path) -> None:
    data = load_dataset("mnist", 0.1, 0)
    assert data.source.endswith("(CNN_TUNE_DATA)")
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (28, 28, 1)  # bytes, as stored
    assert data.scale == pytest.approx(1 / 255)
    legacy = load_dataset("mnist", 0.1, 0, pixels="float32")  # how runs recorded before "pixels" trained
    assert legacy.x_train.dtype == np.float32 and legacy.scale is None
    np.testing.assert_array_equal(legacy.x_train, data.x_train.astype(np.float32) / 255.0)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (360, 40, 100)
    assert data.class_names == tuple("0123456789")
    assert load_dataset("mnist", 0.1, 0) is data  # loaded once per process


def test_fashion_class_names(tiny_data: Path) -> None:
    assert load_dataset("fashion_mnist").class_names[9] == "Ankle boot"


def test_not_found_lists_every_place_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CNN_TUNE_DATA", str(tmp_path))
    with pytest.raises(CnnTuneError) as info:
        load_dataset("mnist")
    message = str(info.value)
    for place in (str(tmp_path / "mnist"), "/usr/share/datasets/mnist", "mnist.npz", "Keras download"):
        assert place in message
    assert "\n" not in message


def test_idx_folder_and_npz_paths(tmp_path: Path) -> None:
    folder = write_idx_dir(tmp_path / "digits")
    from_folder = load_dataset(str(folder))
    x_train, y_train = make_images(400, 1)
    x_test, y_test = make_images(100, 2)
    np.savez(tmp_path / "digits.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    from_npz = load_dataset(str(tmp_path / "digits.npz"))
    assert from_folder.fingerprint == from_npz.fingerprint
    np.testing.assert_array_equal(from_folder.x_val, from_npz.x_val)


def test_truncated_wrong_magic_and_mismatched_files(tmp_path: Path) -> None:
    folder = write_idx_dir(tmp_path / "bad")
    images = folder / "train-images-idx3-ubyte.gz"
    original = images.read_bytes()
    images.write_bytes(original[: len(original) // 2])
    with pytest.raises(CnnTuneError, match=r"train-images-idx3-ubyte\.gz: cannot read .*truncated or damaged"):
        load_dataset(str(folder))
    raw = bytearray(idx_bytes(make_images(400, 1)[0]))
    images.write_bytes(gzip.compress(bytes(raw[:-10])))
    with pytest.raises(CnnTuneError, match=r"header promises .* the file is truncated"):
        load_dataset(str(folder))
    raw[3] = 0x01
    images.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(CnnTuneError, match=r"wrong IDX magic number 0x00000801, expected 0x00000803"):
        load_dataset(str(folder))
    images.write_bytes(gzip.compress(idx_bytes(make_images(300, 1)[0])))
    with pytest.raises(CnnTuneError, match=r"300 train images but 400 labels"):
        load_dataset(str(folder))


def test_npz_missing_arrays_and_missing_path(tmp_path: Path) -> None:
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((4, 8, 8)))
    with pytest.raises(CnnTuneError, match=r"missing y_train, x_test, y_test"):
        load_dataset(str(tmp_path / "partial.npz"))
    with pytest.raises(CnnTuneError, match=r"neither a known name \(mnist, fashion_mnist\) nor an existing path"):
        load_dataset(str(tmp_path / "nowhere"))


def test_read_idx_checks_length(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(CnnTuneError, match="too short for an IDX header"):
        read_idx(path, 1)


def test_stratified_subset_and_split_keep_class_proportions() -> None:
    y = np.repeat(np.arange(10), [100, 200, 100, 100, 100, 100, 100, 100, 100, 100])
    subset = stratified_subset(y, 110, seed=3)
    assert len(subset) == 110 and np.bincount(y[subset])[1] == 20
    train, val = stratified_split(y, 0.1, seed=3)
    assert len(val) == 110 and not set(train) & set(val) and len(train) + len(val) == len(y)
    assert np.array_equal(stratified_subset(y, 110, seed=3), subset)
    assert not np.array_equal(stratified_subset(y, 110, seed=4), subset)


def test_train_limit_is_a_stratified_subset(tiny_data: Path) -> None:
    data = load_dataset("mnist", 0.1, 0, 100)
    assert len(data.y_train) + len(data.y_val) == 100
    assert set(np.bincount(np.concatenate([data.y_train, data.y_val]))) == {10}


def test_fingerprint_depends_on_content() -> None:
    a = np.arange(12, dtype=np.uint8)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a) != fingerprint(a[::-1])


def test_available_datasets_reports_where(tiny_data: Path) -> None:
    rows = {row["dataset"]: row for row in available_datasets()}
    assert rows["mnist"]["status"] == "found" and str(tiny_data / "mnist") in rows["mnist"]["where"]
