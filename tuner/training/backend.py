"""Keras, its backend framework (TensorFlow, JAX or PyTorch) and keras-tuner, imported here and only
here, on first use.

`from tuner.training.backend import keras` inside a function is the way the rest of the package
reaches Keras, so that `cnn-tune --help`, `spaces` and `report` never pay a framework's start-up
time. Which framework Keras runs on is chosen once per process, before Keras loads
(`use_backend`); everything that differs between the three lives here: threads, GPU memory
sharing, deterministic GPU kernels, memory cleared between trials, and which framework errors fail
a trial.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuner.errors import CnnTuneError

__all__ = [  # noqa: F822 - keras, kt and tf are provided lazily by __getattr__
    "BACKENDS",
    "active_backend",
    "check_backend",
    "clear_memory",
    "compile_cache",
    "default_backend",
    "deterministic_kernels",
    "keras",
    "kt",
    "recorded_backend",
    "tf",
    "trial_error",
    "use_backend",
]

# Backend name -> (the module Keras needs, the cnn-tune extra that installs it).
BACKENDS: dict[str, tuple[str, str]] = {
    "tensorflow": ("tensorflow", "cpu"),
    "jax": ("jax", "jax"),
    "torch": ("torch", "torch"),
}

_modules: dict[str, Any] = {}
# Whether the framework loads with deterministic GPU kernels (`use_backend`; read once, at load).
_deterministic = {"on": True}


def default_backend() -> str:
    """KERAS_BACKEND if set (as Keras itself reads it), else TensorFlow."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def recorded_backend(record: dict[str, Any]) -> str:
    """The backend a run trained on, as its record says (runs made before --backend: TensorFlow)."""
    return str(record.get("backend") or "tensorflow")


def check_backend(name: str) -> None:
    """One clear error for an unknown backend or one whose framework is not installed."""
    if name not in BACKENDS:
        raise CnnTuneError(f"choose one of {', '.join(BACKENDS)}", field=f"backend {name}")
    module, extra = BACKENDS[name]
    if importlib.util.find_spec(module) is None:
        gpu_extra = {"tensorflow": "gpu", "jax": "jax-cuda"}.get(name)
        more = f" (`cnn-tune[{gpu_extra}]` for NVIDIA GPUs)" if gpu_extra else ""
        raise CnnTuneError(
            f"{module} is not installed; install it with `pip install 'cnn-tune[{extra}]'`{more}",
            field=f"backend {name}",
        )


def use_backend(name: str, deterministic: bool = True) -> None:
    """Run Keras on `name` in this process (checked; Keras may not have loaded on another one), with
    deterministic GPU kernels unless `deterministic` is False. Kernels are chosen when the framework
    loads: once Keras has loaded, `deterministic` changes nothing."""
    check_backend(name)
    loaded = active_backend()
    if loaded is None and "keras" in sys.modules:  # imported by the caller (a notebook) before cnn-tune
        loaded = str(sys.modules["keras"].backend.backend())
    if loaded is not None and loaded != name:
        raise CnnTuneError(
            f"Keras already runs on {loaded} in this process; use a new process for another backend",
            field=f"backend {name}",
        )
    os.environ["KERAS_BACKEND"] = name
    if not _modules:
        _deterministic["on"] = deterministic


def deterministic_kernels() -> bool:
    """Whether this process's framework trains (or will train, once it loads) with deterministic GPU
    kernels: what `use_backend` asked before Keras loaded, which is what run.json records."""
    return _deterministic["on"]


def active_backend() -> str | None:
    """The backend Keras loaded with in this process, None before it loads."""
    return _modules.get("name")


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Hide what a framework's C++ side prints while it loads (absl, oneDNN and CUDA notices that no
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
        name = default_backend()
        check_backend(name)
        os.environ["KERAS_BACKEND"] = name
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        _place_before_import(name)
        if _deterministic["on"]:
            _deterministic_before_import(name)
        try:
            with _quiet_native_stderr():
                framework = importlib.import_module(BACKENDS[name][0])
                import keras as keras_module
        except ImportError as exc:
            module, extra = BACKENDS[name]
            raise CnnTuneError(
                f"{module} or keras failed to load ({exc}); reinstall with `pip install 'cnn-tune[{extra}]'`"
            ) from None
        _place_after_import(name, framework)
        if _deterministic["on"]:
            _deterministic_after_import(name, framework)
        _modules.update(name=name, framework=framework, keras=keras_module)
        if name == "tensorflow":
            _modules["tf"] = framework
    return _modules


COMPILE_CACHE_GB = 2.0  # JAX drops the least recently used programs beyond this
# Programs that compile faster than this are not worth a file (JAX's default is 1 s, which would keep
# none of a small trial's programs on a GPU, where they compile in about a second).
_CACHE_AFTER_SECONDS = 0.2


def compile_cache() -> Path | None:
    """Where JAX keeps compiled programs across runs and workers: CNN_TUNE_COMPILE_CACHE (set by
    `--compile-cache DIR`; `off`, by `--no-compile-cache`, for none), else the user's cache folder."""
    configured = os.environ.get("CNN_TUNE_COMPILE_CACHE", "")
    if configured.lower() in ("off", "0", "false", "no"):
        return None
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn-tune" / "jax"


def _keep_compiled(framework: Any) -> None:
    """JAX's persistent compilation cache in `compile_cache()`: a trial of shapes compiled in an
    earlier run, or by another worker, loads its program instead of compiling it."""
    folder = compile_cache()
    if folder is None:
        return
    framework.config.update("jax_compilation_cache_dir", str(folder))
    framework.config.update("jax_persistent_cache_min_compile_time_secs", _CACHE_AFTER_SECONDS)
    framework.config.update("jax_compilation_cache_max_size", int(COMPILE_CACHE_GB * 2**30))


def _threads() -> int | None:
    threads = os.environ.get("CNN_TUNE_THREADS")
    return int(threads) if threads else None


def _place_before_import(name: str) -> None:
    """The worker's placement (tuner.training.devices) where it must be set before the framework
    loads: the worker's own cores, and JAX's GPU memory taken as needed rather than preallocated
    (several trials share one GPU)."""
    cores = os.environ.get("CNN_TUNE_CORES")
    if cores and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(core) for core in cores.split(",")})
    if name == "jax" and os.environ.get("CNN_TUNE_MEMORY_GROWTH"):
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _place_after_import(name: str, framework: Any) -> None:
    """Thread counts for the worker's share of the cores, and TensorFlow's GPU memory growth."""
    threads = _threads()
    if name == "tensorflow":
        if threads:
            framework.config.threading.set_intra_op_parallelism_threads(threads)
            framework.config.threading.set_inter_op_parallelism_threads(1)
        if os.environ.get("CNN_TUNE_MEMORY_GROWTH"):
            for gpu in framework.config.list_physical_devices("GPU"):
                framework.config.experimental.set_memory_growth(gpu, True)
    elif name == "torch" and threads:
        framework.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
            framework.set_num_interop_threads(1)
    elif name == "jax":
        _keep_compiled(framework)
    # JAX has no thread-count setting: the worker's cores (CNN_TUNE_CORES) bound it.


def _deterministic_before_import(name: str) -> None:
    """GPU kernels that give the same numbers on every run, so that `reproduce` matches a trial
    trained on a GPU (its default kernels sum in a varying order, so the same trial trained twice
    differs from the first epoch; reports/gpu.md). A setting the user gave in XLA_FLAGS wins; CPU
    training is deterministic either way."""
    if name == "jax":
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    elif name == "torch":  # cuBLAS is deterministic only with a fixed workspace, set before CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _deterministic_after_import(name: str, framework: Any) -> None:
    """TensorFlow's and PyTorch's deterministic GPU kernels, where there is a GPU (on the CPU they
    would change nothing but could refuse an operation)."""
    if name == "tensorflow" and framework.config.list_physical_devices("GPU"):
        framework.config.experimental.enable_op_determinism()
    elif name == "torch" and framework.cuda.is_available():
        framework.use_deterministic_algorithms(True, warn_only=True)
        framework.backends.cudnn.benchmark = False


def clear_memory() -> None:
    """Free what the last trial left: Keras's graph state, and PyTorch's cached GPU blocks so that
    other trials on the same GPU can use them (TensorFlow and JAX free on release)."""
    modules = _load()
    modules["keras"].backend.clear_session()
    gc.collect()  # the last model, held in reference cycles, before its GPU blocks are released
    if modules["name"] == "torch" and modules["framework"].cuda.is_available():
        modules["framework"].cuda.empty_cache()


def _out_of_memory(name: str, framework: Any, exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    if name == "tensorflow":
        return isinstance(exc, framework.errors.ResourceExhaustedError)
    if name == "torch":  # torch.OutOfMemoryError since 2.4; torch.cuda's before
        return isinstance(exc, getattr(framework, "OutOfMemoryError", None) or framework.cuda.OutOfMemoryError)
    return type(exc).__name__ in ("JaxRuntimeError", "XlaRuntimeError") and "RESOURCE_EXHAUSTED" in str(exc)


def _runtime_errors(name: str, framework: Any) -> tuple[type, ...]:
    """Each framework's error for an operation that failed at run time (not a programming error)."""
    if name == "tensorflow":
        return (framework.errors.OpError,)
    found = getattr(framework.errors, "JaxRuntimeError", None) if name == "jax" else None
    if name == "torch":
        found = getattr(framework, "AcceleratorError", None)  # CUDA faults; PyTorch 2.8 and later
    return (found,) if isinstance(found, type) else ()


def trial_error(exc: BaseException) -> str | None:
    """Why a framework error failed a trial (out of memory first), or None for an error that is
    not the framework's: a bug to raise, not a trial to record."""
    if not _modules:
        return "out of memory" if isinstance(exc, MemoryError) else None
    name, framework = _modules["name"], _modules["framework"]
    first = (str(exc).splitlines() or [""])[0][:200]
    if _out_of_memory(name, framework, exc):
        return f"out of memory: {first}"
    if isinstance(exc, _runtime_errors(name, framework)):
        return f"{type(exc).__name__}: {first}"
    return None


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
    if name == "keras":
        return _load()["keras"]
    if name == "tf":
        modules = _load()
        if "tf" not in modules:
            raise CnnTuneError(f"this needs TensorFlow, and Keras runs on {modules['name']} here")
        return modules["tf"]
    if name == "kt":
        return _load_keras_tuner()
    raise AttributeError(f"module 'tuner.training.backend' has no attribute {name!r}")
