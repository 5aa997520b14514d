"""How a model's inputs and outputs relate to raw data: the one place for standardisation.

A :class:`Scaling` holds the training data's feature statistics and, for regression, the
target's. Assigned to :attr:`fastnn.Sequential.scaling`, it makes the model take raw rows and
raw targets everywhere (``fit``, ``predict``, ``evaluate``) and answer in the target's units;
:meth:`~fastnn.Sequential.save` keeps it with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import InputError


def _vector(values, name):
    arr = np.asarray(values, np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class Scaling:
    """Standardisation of features, ``(X_raw - feature_mean) / feature_scale``, and optionally
    of regression targets, ``(y_raw - target_mean) / target_scale``.

    Parameters
    ----------
    feature_mean, feature_scale : array-like of shape (n_features,)
        ``feature_scale`` must be positive (use 1 for a constant column).
    target_mean, target_scale : array-like of shape (n_outputs,) or float, optional
        For a regression model trained on standardised targets; ``None`` leaves targets as
        they are.
    """

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        fields = {"feature_mean": self.feature_mean, "feature_scale": self.feature_scale}
        if (self.target_mean is None) != (self.target_scale is None):
            raise InputError("target_mean and target_scale must be given together")
        if self.target_mean is not None:
            fields.update(target_mean=self.target_mean, target_scale=self.target_scale)
        for name, values in fields.items():
            object.__setattr__(self, name, _vector(values, name))
        for kind in ("feature", "target"):
            mean, scale = getattr(self, f"{kind}_mean"), getattr(self, f"{kind}_scale")
            if mean is None:
                continue
            if mean.shape != scale.shape:
                raise InputError(f"{kind}_mean and {kind}_scale must have the same length")
            if np.any(scale <= 0):
                raise InputError(f"{kind}_scale must be positive")

    @property
    def n_features(self) -> int:
        """The number of features the statistics describe."""
        return self.feature_mean.shape[0]

    def features(self, X: np.ndarray, dtype: DTypeLike) -> np.ndarray:
        """Standardised rows: ``(X - feature_mean) / feature_scale`` in ``dtype``."""
        return ((X - self.feature_mean) / self.feature_scale).astype(dtype)

    def targets(self, y: np.ndarray, dtype: DTypeLike) -> np.ndarray:
        """Standardised targets (unchanged without target statistics)."""
        if self.target_mean is None:
            return y
        return ((y - self.target_mean) / self.target_scale).astype(dtype)

    def outputs(self, values: np.ndarray) -> np.ndarray:
        """Model outputs mapped back to the target's units: ``value * scale + mean``."""
        if self.target_mean is None:
            return values
        return values * self.target_scale + self.target_mean

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The statistics as named float64 arrays (what a saved model file stores)."""
        arrays = {"feature_mean": self.feature_mean, "feature_scale": self.feature_scale}
        if self.target_mean is not None:
            arrays.update(target_mean=self.target_mean, target_scale=self.target_scale)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike]) -> Scaling | None:
        """The inverse of :meth:`to_arrays`; None when ``arrays`` holds no feature statistics."""
        if "feature_mean" not in arrays:
            return None
        return cls(**{k: arrays[k] for k in ("feature_mean", "feature_scale", "target_mean",
                                              "target_scale") if k in arrays})  # fmt: skip


__all__ = ["Scaling"]
