"""The course's "Visualizing the Convolutions and Pooling": what each conv and pool layer makes of an image."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import CnnTuneError
from tuner.runs.reproduce import reproduce
from tuner.training.backend import active_backend, recorded_backend, use_backend

if TYPE_CHECKING:
    from tuner.runs.reader import Run

__all__ = ["FeatureMaps", "feature_maps", "plot_feature_maps", "save_feature_maps"]


@dataclass
class FeatureMaps:
    """maps[i][j] is filter `filter_index` of layer j's output for test image i."""

    trial: int
    filter_index: int
    images: list[int]
    labels: list[str]
    layers: list[str]
    maps: list[list[np.ndarray]]


def _use_run_backend(run: Run) -> None:
    """Keras on the run's own backend, chosen before Keras loads. A saved model loads on any
    backend, so one that is not installed here is only an error when the trial must be retrained."""
    if active_backend() is None:
        with contextlib.suppress(CnnTuneError):
            use_backend(recorded_backend(run.record))


def _model(run: Run, trial: int) -> Any:
    from tuner.training.backend import keras

    path = run.model_path(trial)
    if not path.exists():
        reproduce(run, trial)  # trains it once (as far as it trained, pruned or not) and saves it there
    if not path.exists():
        raise CnnTuneError(f"retraining trial {trial} saved no model at {path}; run `cnn-tune reproduce` to see why")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as exc:  # a truncated or foreign file: Keras raises ValueError, OSError, zip errors
        raise CnnTuneError(
            f"{path}: cannot load the saved model ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
            "delete it and run the command again to retrain the trial"
        ) from None


def feature_maps(
    run: Run, trial: int | None = None, images: tuple[int, ...] | list[int] = (0, 23, 28), filter_index: int = 1
) -> FeatureMaps:
    """Feature maps of the saved (or reproduced) model of `trial` (None: the best) for the chosen test images."""
    _use_run_backend(run)
    from tuner.training.backend import keras

    trial = run.trial_number(trial)
    images = list(images)
    data = run.dataset()
    bad = [i for i in images if not 0 <= i < len(data.y_test)]
    if bad:
        raise CnnTuneError(f"{bad[0]} is not a test image; choose 0..{len(data.y_test) - 1}", field="images")
    model = _model(run, trial)
    layers = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D))]
    if not layers:
        raise CnnTuneError(f"trial {trial} has no Conv2D or MaxPooling2D layer to show")
    channels = min(int(layer.output.shape[-1]) for layer in layers)
    if not 0 <= filter_index < channels:
        raise CnnTuneError(
            f"the model's layers have {channels} filters; choose 0..{channels - 1}", field=f"filter {filter_index}"
        )
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
    outputs = probe.predict(data.x_test[images], verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return FeatureMaps(
        trial=trial,
        filter_index=filter_index,
        images=images,
        labels=[data.class_names[int(data.y_test[i])] for i in images],
        layers=[f"{layer.name}" for layer in layers],
        maps=[[np.asarray(out[row, :, :, filter_index]) for out in outputs] for row in range(len(images))],
    )


def plot_feature_maps(data: FeatureMaps) -> Any:
    """A grid: a row per image, a column per layer, `inferno` as in the course."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = len(data.images), len(data.layers)
    figure, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for i in range(rows):
        for j in range(cols):
            ax = axes[i][j]
            ax.imshow(data.maps[i][j], cmap="inferno")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(data.layers[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(f"#{data.images[i]}: {data.labels[i]}", fontsize=9)
    figure.suptitle(f"Trial {data.trial}, filter {data.filter_index}: conv and pool outputs")
    figure.tight_layout()
    return figure


def save_feature_maps(data: FeatureMaps, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure = plot_feature_maps(data)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
