"""scikit-learn estimators that train through fastnn's engine: drop-in replacements for
scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` (see :mod:`fastnn.sklearn._base` for how
their arguments map onto the engine)."""

from .classifier import FastMLPClassifier
from .regressor import FastMLPRegressor

__all__ = ["FastMLPClassifier", "FastMLPRegressor"]
