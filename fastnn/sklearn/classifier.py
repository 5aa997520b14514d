"""FastMLPClassifier: scikit-learn's ``MLPClassifier``, trained by fastnn."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import column_or_1d, validate_data

from ..errors import InputError
from ._base import ACCEPT_SPARSE, _BaseFastMLP

if TYPE_CHECKING:
    from .._typing import SparseMatrix


class FastMLPClassifier(ClassifierMixin, _BaseFastMLP):
    """A multilayer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by fastnn.

    Every argument of the installed scikit-learn's ``MLPClassifier`` is accepted with the same
    default and meaning, and the same arguments give the same numbers (up to floating-point
    rounding): the initial weights, the validation split and the shuffles are drawn from
    ``random_state`` as scikit-learn draws them. Two more arguments choose how fastnn computes.

    Two classes train one logistic output with binary cross-entropy, more classes a softmax
    output with cross-entropy, and a label indicator matrix (multilabel) one logistic output
    per label.

    ``X`` may be dense or a SciPy sparse matrix or array (any format) in every method, as for
    scikit-learn's MLP; a sparse ``X`` is converted once to CSR and never densified, and it
    gives the numbers the same ``X`` gives dense.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default (100,)
        The width of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default "relu"
        The hidden layers' activation.
    solver : {"adam", "sgd", "lbfgs"}, default "adam"
        Adam, SGD with momentum, or full-batch L-BFGS (SciPy's L-BFGS-B).
    alpha : float, default 0.0001
        L2 penalty: each batch adds ``alpha / 2 * sum(W**2) / (its weight sum)`` to its loss.
    batch_size : int or "auto", default "auto"
        Samples per update for the stochastic solvers; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        The schedule of ``solver="sgd"`` (see :class:`fastnn.SGD`).
    learning_rate_init : float, default 0.001
        The initial learning rate (sgd, adam).
    power_t : float, default 0.5
        The exponent of "invscaling".
    max_iter : int, default 200
        Epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default True
        Shuffle the samples every epoch (sgd, adam).
    random_state : int, RandomState instance or None, default None
        Draws the initial weights, the validation split and the shuffles.
    tol : float, default 1e-4
        The improvement below which an epoch counts as no improvement; for lbfgs, the gradient
        tolerance.
    verbose : bool, default False
        Print the loss after every epoch.
    warm_start : bool, default False
        ``fit`` continues from the current weights (with a new optimizer state, as scikit-learn).
    momentum : float, default 0.9
        SGD momentum, in [0, 1].
    nesterovs_momentum : bool, default True
        Nesterov's momentum for SGD.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified for two classes), stop when its
        accuracy stops improving, and keep the best weights.
    validation_fraction : float, default 0.1
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's moment decay rates.
    epsilon : float, default 1e-8
        Adam's ``eps``, added to the root of the second moment.
    n_iter_no_change : int, default 10
        Epochs without improvement before stopping (or, "adaptive", slowing down).
    max_fun : int, default 15000
        lbfgs: the most loss evaluations.
    backend : {"numba", "numpy"} or None, default None
        fastnn's backend; None reads ``$FASTNN_BACKEND``, else uses "numba".
    dtype : {"float32", "float64"} or None, default None
        The arithmetic's dtype. None follows the first ``fit``'s ``X``, as scikit-learn does:
        float32 stays float32, anything else is float64.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
    model_ : fastnn.Sequential
        The trained network.
    coefs_, intercepts_ : list of ndarray
        Weights and biases of each layer (views into ``model_``).
    loss_, best_loss_, loss_curve_ : float, float or None, list of float
        scikit-learn's training loss (with the L2 term of each batch's weights before its
        update); ``loss_curve_`` and ``best_loss_`` for the stochastic solvers only.
    validation_scores_, best_validation_score_ : list of float or None, float or None
        Accuracy on the held-out data, with ``early_stopping``.
    t_ : int
        Training samples seen (stochastic solvers).
    n_iter_, n_layers_, n_outputs_ : int
    out_activation_ : {"logistic", "softmax"}
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    @available_if(lambda est: est._check_solver())
    def partial_fit(
        self,
        X: ArrayLike | SparseMatrix,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        classes: ArrayLike | None = None,
    ) -> FastMLPClassifier:
        """One epoch on ``(X, y)``, continuing from the current state (sgd and adam only).

        ``X`` may be sparse (see :meth:`fit`). ``classes`` (every class that will ever appear)
        is required on the first call.
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset, dtype):
        X, y = validate_data(self, X, y, accept_sparse=ACCEPT_SPARSE, multi_output=True,
                             dtype=dtype, order="C", reset=reset)  # fmt: skip
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if "classes_" not in self.__dict__ or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and set(classes) != set(self.classes_):
                raise InputError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                )
            if len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise InputError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    @property
    def _kind(self):
        return self._label_binarizer.y_type_

    def _engine_loss(self):
        return "softmax_cross_entropy" if self._kind == "multiclass" else "binary_cross_entropy"

    def _output_activation(self):
        return "softmax" if self._kind == "multiclass" else "logistic"

    def _engine_targets(self, y):
        """Integer labels (softmax, one logistic output) or the 0/1 matrix (multilabel)."""
        if self._kind == "multiclass":
            return np.argmax(y, axis=1)
        if y.shape[1] == 1:
            return y[:, 0].astype(np.int64)
        return y.astype(self.model_.dtype)

    def _gradient_scale(self):
        """fastnn's gradient over scikit-learn's: fastnn averages over the labels."""
        return 1.0 / self.n_outputs_ if self._kind == "multilabel-indicator" else 1.0

    _loss_scale = _gradient_scale

    def _stratify_validation(self):
        return self.n_outputs_ == 1

    def _decode(self, y):
        return self._label_binarizer.inverse_transform(y)

    _score_function = staticmethod(accuracy_score)

    def _predictions(self, proba):
        """The labels of scikit-learn's probabilities (a NaN row gives the first class, as
        scikit-learn's argmax does)."""
        return self._label_binarizer.inverse_transform(
            proba[:, 0] if self.n_outputs_ == 1 else proba
        )

    def predict_proba(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """Class probabilities: one column per class (two for two classes, summing to 1), or
        one per label for multilabel targets. ``X`` may be sparse (used as CSR, not densified).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        X = self._check_X(X)
        return self.model_.predict_proba(X).astype(self._output_dtype, copy=False)

    def predict_log_proba(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """The most probable class of each sample (the labels above 0.5 for multilabel).
        ``X`` may be sparse.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        if self.n_outputs_ == 1:
            proba = proba[:, 1]
        return self._label_binarizer.inverse_transform(proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
