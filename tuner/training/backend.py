"""TensorFlow, Keras and keras-tuner, imported here and only here, on first use.

`from tuner.training.backend import keras` inside a function is the way the rest of the
package reaches Keras, so that `cnn-tune --help`, `spaces` and `report` never
pay TensorFlow's start-up time.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from tuner.errors import CnnTuneError

__all__ = ["keras", "kt", "tf"]  # noqa: F822 - provided lazily by __getattr__

_modules: dict[str, Any] = {}


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Hide what TensorFlow's C++ side prints while it loads (absl and oneDNN notices that no
    environment variable silences); if loading fails, show it after all."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _load() -> dict[str, Any]:
    if not _modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        try:
            with _quiet_native_stderr():
                import keras as keras_module
                import tensorflow
        except ImportError as exc:
            raise CnnTuneError(
                f"TensorFlow is not installed ({exc}); install it with `pip install 'cnn-tune[cpu]'` "
                "(or `cnn-tune[gpu]` for NVIDIA GPUs)"
            ) from None
        _modules["tf"] = tensorflow
        _modules["keras"] = keras_module
        _set_threads(tensorflow)
    return _modules


def _set_threads(tf: Any) -> None:
    """The worker's placement (tuner.training.devices): its share of the cores, GPU memory growth so that
    several trials fit on one GPU, and the optional mixed precision."""
    threads = os.environ.get("CNN_TUNE_THREADS")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if os.environ.get("CNN_TUNE_MEMORY_GROWTH"):
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)


def _load_keras_tuner() -> Any:
    if "kt" not in _modules:
        _load()
        try:
            with _quiet_native_stderr():
                import keras_tuner
        except ImportError as exc:
            raise CnnTuneError(
                f"keras-tuner is not installed ({exc}); install it with `pip install keras-tuner`"
            ) from None
        _modules["kt"] = keras_tuner
    return _modules["kt"]


def __getattr__(name: str) -> Any:
    if name in ("tf", "keras"):
        return _load()[name]
    if name == "kt":
        return _load_keras_tuner()
    raise AttributeError(f"module 'tuner.training.backend' has no attribute {name!r}")
