"""FastMLPRegressor: scikit-learn's ``MLPRegressor``, trained by fastnn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ..backend import BACKENDS
from ..model import DTYPES
from ._base import ACCEPT_SPARSE, _BaseFastMLP

if TYPE_CHECKING:
    from .._typing import SparseMatrix


class FastMLPRegressor(RegressorMixin, _BaseFastMLP):
    """A multilayer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by fastnn.

    The arguments and attributes are those of :class:`FastMLPClassifier` (every argument of the
    installed scikit-learn's ``MLPRegressor``, the same defaults, the same numbers from the same
    ``random_state``), plus ``loss``. ``y`` may have several columns, one output each. ``X``
    may be a SciPy sparse matrix or array in every method (converted once to CSR, never
    densified).

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default "squared_error"
        Half the squared error with a linear output, or half the Poisson deviance with an
        exponential output (``y`` must not be negative); scikit-learn's definitions.

    Attributes
    ----------
    loss_, loss_curve_ : float, list of float
        scikit-learn's loss (half squared error or half Poisson deviance, with the L2 term).
    validation_scores_ : list of float or None
        R^2 on the held-out data after each epoch (with ``early_stopping``).
    out_activation_ : {"identity", "exp"}
    """

    _parameter_constraints = {
        **MLPRegressor._parameter_constraints,
        "backend": [StrOptions(set(BACKENDS)), None],
        "dtype": [StrOptions(set(DTYPES)), type, np.dtype, None],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        backend=None,
        dtype=None,
    ):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            backend=backend, dtype=dtype,
        )  # fmt: skip
        self.loss = loss

    @available_if(lambda est: est._check_solver())
    def partial_fit(
        self,
        X: ArrayLike | SparseMatrix,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> FastMLPRegressor:
        """One epoch on ``(X, y)``, continuing from the current state (sgd and adam only).
        ``X`` may be sparse (see :meth:`fit`)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=ACCEPT_SPARSE, multi_output=True,
                             y_numeric=True, dtype=dtype, order="C", reset=reset)  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _engine_loss(self):
        return "poisson" if self.loss == "poisson" else "mse"

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _engine_targets(self, y):
        return y

    def _gradient_scale(self):
        """fastnn's gradient over scikit-learn's: fastnn averages over the outputs, and its
        squared error is not halved."""
        return (1.0 if self.loss == "poisson" else 2.0) / self.n_outputs_

    def _loss_scale(self):
        """fastnn's loss over scikit-learn's."""
        return 1.0 / self.n_outputs_ if self.loss == "poisson" else 2.0

    def _stratify_validation(self):
        return False

    def _decode(self, y):
        return y

    _score_function = staticmethod(r2_score)

    def _predictions(self, values):
        return values[:, 0] if values.shape[1] == 1 else values

    def predict(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """Predicted values (the predicted means ``exp(output)`` with the Poisson loss).
        ``X`` may be sparse (used as CSR, not densified).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        X = self._check_X(X)
        return self.model_.predict(X).astype(self._output_dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.regressor_tags.poor_score = False
        return tags
