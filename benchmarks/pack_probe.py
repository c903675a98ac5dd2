"""How K exercise3 models trained together in one program cost per trial-epoch, formulation by
formulation, against one model's fused epoch (issue 32, item 5; its numbers feed issue 33's design).

    CNN_TUNE_DATA=../shared/datasets python benchmarks/pack_probe.py [--ks 1 4 16 64] [--batch 128]
        [--rows 54000] [--epochs 3] [--forms vmap wide padded] [--keras] [--out FILE]

The model is exercise3's: Conv2D(f, 3x3, relu), MaxPooling2D(2), Flatten, Dense(u, relu), Dense(10,
softmax), Adam 1e-3, on MNIST's first `--rows` training images (`--synthetic`: random images of the
same shape, for a machine without MNIST). Each epoch is one `lax.scan` over the batches. The forms:

- `vmap`: K copies of the one-model step under `jax.vmap`, each with its own order of the images
  (each trial its own shuffle, as cnn-tune's trials have). XLA turns the K convolutions into one
  grouped convolution.
- `wide`: one convolution of K x f filters over a batch the K models share (one order for all),
  then the K dense heads as batched matrix products.
- `padded`: K models of different sizes (filters 16/32/64, units 64-512 in turn) padded to the
  largest and masked, under `vmap`: what a pack of a real search's proposals would be.
- `--keras`: cnn-tune's own fused epoch of one Keras model (tuner/training/fused.py), the K=1
  reference the others are compared with.

Per K and form: the first epoch (trace and compile), the median later epoch, seconds per
trial-epoch (median / K) and its ratio to cnn-tune's fused epoch of one model (`--keras`; without
it, to K=1 of the same form; padded's K=1 is its smallest model, 16 filters and 64 units). Lines
are printed (and appended to `--out`) as each K finishes, so a cut-off run keeps what it measured.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

FILTERS = (16, 32, 64)
UNITS = (64, 128, 256, 512)


def mnist(rows: int, synthetic: bool) -> tuple[np.ndarray, np.ndarray]:
    if synthetic:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (rows, 28, 28, 1), dtype=np.uint8), rng.integers(0, 10, rows).astype(np.int32)
    root = Path(os.environ.get("CNN_TUNE_DATA", "../shared/datasets")) / "mnist"

    def idx(name: str) -> np.ndarray:
        raw = gzip.open(root / name).read()
        dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)

    x = idx("train-images-idx3-ubyte.gz")[:rows, :, :, None]
    return x, idx("train-labels-idx1-ubyte.gz")[:rows].astype(np.int32)


def init(key, filters: int, units: int, pad_filters: int, pad_units: int):  # type: ignore[no-untyped-def]
    """One model's weights (Glorot uniform, zero biases), zero-padded to the padded sizes."""
    import jax
    import jax.numpy as jnp

    def glorot(k, shape, fan_in, fan_out):  # type: ignore[no-untyped-def]
        limit = np.sqrt(6 / (fan_in + fan_out))
        return jax.random.uniform(k, shape, jnp.float32, -limit, limit)

    k1, k2, k3 = jax.random.split(key, 3)
    flat = 13 * 13 * filters
    conv = jnp.zeros((3, 3, 1, pad_filters)).at[..., :filters].set(glorot(k1, (3, 3, 1, filters), 9, 9 * filters))
    dense = jnp.zeros((13, 13, pad_filters, pad_units))
    dense = dense.at[:, :, :filters, :units].set(glorot(k2, (flat, units), flat, units).reshape(13, 13, filters, units))
    out = jnp.zeros((pad_units, 10)).at[:units].set(glorot(k3, (units, 10), units, 10))
    return {
        "conv": conv,
        "conv_b": jnp.zeros(pad_filters),
        "dense": dense.reshape(13 * 13 * pad_filters, pad_units),
        "dense_b": jnp.zeros(pad_units),
        "out": out,
        "out_b": jnp.zeros(10),
    }


def forward(p, x):  # type: ignore[no-untyped-def]
    import jax
    import jax.numpy as jnp

    h = jax.lax.conv_general_dilated(x, p["conv"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    h = jax.nn.relu(h + p["conv_b"])
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = jax.nn.relu(h.reshape(h.shape[0], -1) @ p["dense"] + p["dense_b"])
    return jax.nn.log_softmax(h @ p["out"] + p["out_b"])


def adam(p, g, m, v, t):  # type: ignore[no-untyped-def]
    import jax
    import jax.numpy as jnp

    m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    scale = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    p = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + 1e-7), p, m, v)
    return p, m, v


def one_step(state, xb, yb, masks):  # type: ignore[no-untyped-def]
    """One model's training step; `masks` zero the padding's gradients (None: no padding)."""
    import jax
    import jax.numpy as jnp

    p, m, v, t = state

    def loss(p):  # type: ignore[no-untyped-def]
        logp = forward(p, xb.astype(jnp.float32) / 255)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1)), logp

    (value, logp), g = jax.value_and_grad(loss, has_aux=True)(p)
    if masks is not None:
        g = jax.tree.map(lambda g, mask: g * mask, g, masks)
    p, m, v = adam(p, g, m, v, t + 1)
    return (p, m, v, t + 1), (value, jnp.mean(jnp.argmax(logp, -1) == yb))


def wide_step(state, xb, yb, k: int, filters: int):  # type: ignore[no-untyped-def]
    """K models on one shared batch: one convolution of K x f filters, the heads as batched products."""
    import jax
    import jax.numpy as jnp

    p, m, v, t = state

    def loss(p):  # type: ignore[no-untyped-def]
        x = xb.astype(jnp.float32) / 255
        h = jax.lax.conv_general_dilated(x, p["conv"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        h = jax.nn.relu(h + p["conv_b"])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        h = h.reshape(h.shape[0], 13, 13, k, filters).transpose(3, 0, 1, 2, 4).reshape(k, h.shape[0], -1)
        h = jax.nn.relu(jnp.einsum("kbi,kio->kbo", h, p["dense"]) + p["dense_b"][:, None])
        logp = jax.nn.log_softmax(jnp.einsum("kbi,kio->kbo", h, p["out"]) + p["out_b"][:, None])
        picked = jnp.take_along_axis(logp, jnp.broadcast_to(yb[None, :, None], (k, yb.shape[0], 1)), axis=2)
        return -jnp.mean(picked) * k, logp

    (value, logp), g = jax.value_and_grad(loss, has_aux=True)(p)
    p, m, v = adam(p, g, m, v, t + 1)
    return (p, m, v, t + 1), (value / k, jnp.mean(jnp.argmax(logp, -1) == yb[None]))


def pack(form: str, k: int, batch: int, x: np.ndarray, y: np.ndarray):  # type: ignore[no-untyped-def]
    """(the jitted epoch, its initial state, a function giving each epoch's order) for K models."""
    import jax
    import jax.numpy as jnp

    steps = len(y) // batch
    keys = jax.random.split(jax.random.PRNGKey(0), k)
    xs, ys = jnp.asarray(x), jnp.asarray(y)
    zeros = lambda p: jax.tree.map(jnp.zeros_like, p)  # noqa: E731
    if form == "wide":
        models = [init(key, 32, 128, 32, 128) for key in keys]
        p = {
            "conv": jnp.concatenate([q["conv"] for q in models], axis=-1),
            "conv_b": jnp.concatenate([q["conv_b"] for q in models]),
            **{name: jnp.stack([q[name] for q in models]) for name in ("dense", "dense_b", "out", "out_b")},
        }
        state = (p, zeros(p), zeros(p), jnp.zeros((), jnp.int32))

        def epoch(state, order):  # type: ignore[no-untyped-def]
            def step(state, i):  # type: ignore[no-untyped-def]
                rows = jax.lax.dynamic_slice_in_dim(order, i * batch, batch)
                return wide_step(state, xs[rows], ys[rows], k, 32)

            return jax.lax.scan(step, state, jnp.arange(steps))

        return jax.jit(epoch), state, lambda e: np.random.default_rng([0, e]).permutation(len(y))[: steps * batch]

    sizes = [(32, 128)] * k if form == "vmap" else [(FILTERS[i % 3], UNITS[i % 4]) for i in range(k)]
    pad_f, pad_u = max(f for f, _ in sizes), max(u for _, u in sizes)
    models = [init(key, f, u, pad_f, pad_u) for key, (f, u) in zip(keys, sizes, strict=True)]
    p = jax.tree.map(lambda *a: jnp.stack(a), *models)
    masks = None
    if form == "padded":
        nonzero = [jax.tree.map(lambda w: (w != 0).astype(w.dtype), q) for q in models]
        masks = jax.tree.map(lambda *a: jnp.stack(a), *nonzero)
        masks = {**masks, "conv_b": (masks["conv"].sum((1, 2, 3)) > 0).astype(jnp.float32)}
        masks["dense_b"] = (masks["out"].sum(2) > 0).astype(jnp.float32)
        masks["out_b"] = jnp.ones_like(p["out_b"])
    state = (p, zeros(p), zeros(p), jnp.zeros(k, jnp.int32))

    def epoch(state, order):  # type: ignore[no-untyped-def]
        def step(state, i):  # type: ignore[no-untyped-def]
            rows = jax.lax.dynamic_slice_in_dim(order, i * batch, batch, axis=1)  # (K, batch): each its own
            return jax.vmap(one_step, in_axes=(0, 0, 0, 0 if masks is not None else None))(
                state, xs[rows], ys[rows], masks
            )

        return jax.lax.scan(step, state, jnp.arange(steps))

    def orders(e: int) -> np.ndarray:
        return np.stack([np.random.default_rng([j, e]).permutation(len(y))[: steps * batch] for j in range(k)])

    return jax.jit(epoch), state, orders


def keras_reference(x: np.ndarray, y: np.ndarray, batch: int, epochs: int) -> list[float]:
    """cnn-tune's fused epoch of the same model through `train_trial`."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tuner.data import Dataset
    from tuner.training.options import TrainingOptions
    from tuner.training.trainer import train_trial

    data = Dataset("mnist", "probe", "probe", tuple("0123456789"), x, y, x[:1000], y[:1000], x[:1000], y[:1000])
    config = {"filters": 32, "dense_units": 128, "batch_size": batch, "epochs": epochs, "learning_rate": 1e-3}
    result = train_trial(config, data, seed=0, say=lambda _: None, options=TrainingOptions(backend="jax"))
    return [row["seconds"] for row in result.history]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--forms", nargs="+", default=["vmap", "wide", "padded"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rows", type=int, default=54000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--keras", action="store_true", help="cnn-tune's fused epoch of one model first")
    parser.add_argument("--out", help="append each line to this file as well")
    args = parser.parse_args()
    import jax

    x, y = mnist(args.rows, args.synthetic)

    def say(text: str) -> None:
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as out:
                out.write(text + "\n")

    say(f"# {jax.devices()[0].device_kind}, batch {args.batch}, {len(y)} images, {args.epochs} epochs")
    reference = None
    if args.keras:
        seconds = keras_reference(x, y, args.batch, args.epochs)
        reference = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        say(json.dumps({"form": "keras-fused", "k": 1, "first": seconds[0], "epoch": reference}))
    against = "keras-fused" if reference else "K=1"
    say(f"| form | K | first epoch s | later epoch s | s per trial-epoch | ratio to {against} | last accuracy |")
    say("|---|---|---|---|---|---|---|")
    for form in args.forms:
        alone = reference
        for k in args.ks:
            run, state, orders = pack(form, k, args.batch, x, y)
            seconds, accuracy = [], float("nan")
            for e in range(args.epochs):
                started = time.perf_counter()
                state, (_, acc) = run(state, jax.numpy.asarray(orders(e)))
                accuracy = float(np.mean(np.asarray(acc)[-20:]))
                seconds.append(time.perf_counter() - started)
            later = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
            per_trial = later / k
            alone = alone or per_trial
            say(
                f"| {form} | {k} | {seconds[0]:.2f} | {later:.3f} | {per_trial:.4f} | {per_trial / alone:.2f} "
                f"| {accuracy:.3f} |"
            )


if __name__ == "__main__":
    main()
