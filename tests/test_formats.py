"""Image folders and pixel CSVs as datasets, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_images, make_settings, scripted_runner
from PIL import Image

from tuner.data import load_dataset
from tuner.errors import CnnTuneError
from tuner.runs.reader import load_run
from tuner.search import run_search

NAMES = ["boot", "coat", "shirt"]


def image_folder(root: Path, per_class: int = 12, size: int = 28, rgb: bool = False, split: bool = False) -> Path:
    x, y = make_images(per_class * len(NAMES) * 2, 3, size=size, classes=len(NAMES))
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        part = ("train" if i % 2 == 0 else "test") if split else ""
        folder = root / part / NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image).convert("RGB" if rgb else "L")
        picture.save(folder / f"{i:04d}.png")
    return root


def test_image_folder_without_splits_holds_out_a_test_set(tmp_path: Path) -> None:
    data = load_dataset(str(image_folder(tmp_path / "shoes")))
    assert data.class_names == tuple(NAMES)
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_train.dtype == np.uint8
    total = len(data.y_train) + len(data.y_val) + len(data.y_test)
    assert total == 72 and len(data.y_test) == 12
    assert set(np.bincount(data.y_test)) == {4}  # stratified


def test_image_folder_with_train_test_rgb_and_resize(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "pics", rgb=True, split=True)
    data = load_dataset(str(folder), color="rgb", image_size=(16, 20))
    assert data.x_train.shape[1:] == (16, 20, 3)
    assert len(data.y_test) == 36 and len(data.y_train) + len(data.y_val) == 36


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("one_class", r"needs at least two class sub-folders, found 1 \(boot\)"),
        ("unreadable", r"broken\.png: cannot read the image"),
        ("mixed_sizes", r"odd\.png: the image is 30x30 but .* set data\.image_size"),
        ("empty_class", r"empty: no images"),
    ],
)
def test_image_folder_errors(tmp_path: Path, damage: str, message: str) -> None:
    folder = image_folder(tmp_path / "pics")
    if damage == "one_class":
        for name in NAMES[1:]:
            for file in (folder / name).iterdir():
                file.unlink()
            (folder / name).rmdir()
    elif damage == "unreadable":
        (folder / "coat" / "broken.png").write_bytes(b"not an image")
    elif damage == "mixed_sizes":
        Image.fromarray(np.zeros((30, 30), np.uint8)).save(folder / "coat" / "odd.png")
    else:
        (folder / "empty").mkdir()
    with pytest.raises(CnnTuneError, match=message):
        load_dataset(str(folder))


def csv_file(path: Path, count: int, seed: int) -> Path:
    x, y = make_images(count, seed)
    frame = pd.DataFrame(x.reshape(count, -1), columns=[f"pixel{i + 1}" for i in range(784)])
    frame.insert(0, "label", y.astype(int))
    frame.to_csv(path, index=False)
    return path


def test_pixel_csv_with_its_test_sibling(tmp_path: Path) -> None:
    train = csv_file(tmp_path / "fashion-mnist_train.csv", 120, 1)
    csv_file(tmp_path / "fashion-mnist_test.csv", 30, 2)
    data = load_dataset(str(train))
    assert data.x_train.shape[1:] == (28, 28, 1) and len(data.y_test) == 30
    alone = csv_file(tmp_path / "digits.csv", 120, 1)
    assert len(load_dataset(str(alone)).y_test) == 20


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.assign(label=f["label"] - 5), r"labels must be whole numbers from 0"),
        (lambda f: f.drop(columns=["label"]), r"needs a `label` column"),
        (lambda f: f.drop(columns=["pixel784"]), r"783 pixel columns do not make a square image"),
        (lambda f: f.assign(pixel1=300), r"pixel values must lie in 0\.\.255"),
    ],
)
def test_pixel_csv_errors(tmp_path: Path, edit: object, message: str) -> None:
    path = csv_file(tmp_path / "data.csv", 40, 1)
    edit(pd.read_csv(path)).to_csv(path, index=False)  # type: ignore[operator]
    with pytest.raises(CnnTuneError, match=message):
        load_dataset(str(path))


def test_a_search_on_an_image_folder_reports_class_names(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "shoes")
    outcome = run_search(
        make_settings(space="course-cnn", dataset=str(folder), out=tmp_path / "runs", trials=2, max_epochs=2),
        run_trial=scripted_runner(),
    )
    run = load_run(outcome.store.path)
    assert run.record["dataset"]["class_names"] == NAMES
    assert "classes: boot, coat, shirt" in (outcome.store.path / "leaderboard.md").read_text()
    assert run.dataset().class_names == tuple(NAMES)
