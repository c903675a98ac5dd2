"""Write Fashion-MNIST's 10,000 test images as PNG files in one folder per class.

    python benchmarks/fashion_png.py [IDX_FOLDER] [OUT_FOLDER]

The result is an image-folder dataset (`--dataset OUT_FOLDER`) for the `convnet` space: class names come
from the folder names, and with no train/test split inside, cnn-tune holds out a stratified sixth as test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from tuner.data.formats import read_idx

CLASSES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot")


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "fashion-mnist-png")
    images = read_idx(source / "t10k-images-idx3-ubyte.gz", 3)
    labels = read_idx(source / "t10k-labels-idx1-ubyte.gz", 1)
    for name in CLASSES:
        (out / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image, mode="L").save(out / CLASSES[label] / f"{i:05d}.png")
    print(f"{len(images)} images in {len(CLASSES)} class folders under {out}")


if __name__ == "__main__":
    main()
