"""Saving and loading models: the architecture as JSON and the weights as named arrays."""

import json
import os
import zipfile

import numpy as np

from ._files import atomic_write
from .errors import InputError
from .layers import Dense
from .model import Sequential
from .scaling import Scaling

FILE_FORMAT = "fastnn.Sequential"


def save(model, path):
    """Write ``model`` to ``path`` (see :meth:`fastnn.Sequential.save`); return the path."""
    model._build()
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    config = {
        "format": FILE_FORMAT,
        "version": 1,
        "loss": model.loss,
        "dtype": model.dtype,
        "backend": model.backend,
        "seed": model.seed,
        "layers": [layer.to_config() for layer in model.layers],
        "metadata": model.metadata,
    }
    arrays = {"config": np.array(json.dumps(config))}
    for index, layer in enumerate(model.layers):
        arrays[f"W{index}"] = layer.W
        arrays[f"b{index}"] = layer.b
    if model.scaling is not None:
        arrays.update(model.scaling.to_arrays())
    elif model.feature_scaling is not None:
        mean, scale = model.feature_scaling
        arrays["feature_mean"] = np.asarray(mean, np.float64)
        arrays["feature_scale"] = np.asarray(scale, np.float64)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load(path, backend=None):
    """Load a model written by :meth:`Sequential.save`.

    Parameters
    ----------
    path : str or path-like
    backend : {"numba", "numpy"}, optional
        Defaults to the backend the model was saved with.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            config = json.loads(str(data["config"]))
            if not isinstance(config, dict) or config.get("format") != FILE_FORMAT:
                raise InputError("no fastnn architecture record")
            layers = [Dense(**layer) for layer in config["layers"]]
            weights = [(data[f"W{i}"], data[f"b{i}"]) for i in range(len(layers))]
            stored = [name for name in data.files if name.startswith(("feature_", "target_"))]
            scaling = Scaling.from_arrays({name: data[name] for name in stored})
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a readable fastnn model file: {exc}") from exc
    model = Sequential(
        layers,
        loss=config["loss"],
        backend=backend or config["backend"],
        dtype=config["dtype"],
        seed=config["seed"],
    )
    model.set_weights(weights)
    model.scaling = scaling
    model.metadata = config.get("metadata", {})
    return model


__all__ = ["FILE_FORMAT", "load", "save"]
