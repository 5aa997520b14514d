"""What :class:`FastMLPClassifier` and :class:`FastMLPRegressor` share: arguments, checks and
the translation of scikit-learn's MLP onto the engine: ``_initialize``, ``_fit_stochastic`` (on
the engine's one training loop, :class:`fastnn.training.EpochRunner`, with scikit-learn's
stopping rule as a callback) and ``_fit_lbfgs``, split as scikit-learn's MLP splits them.

``X`` may be a SciPy sparse matrix or array wherever scikit-learn's MLP takes one (``fit``,
``partial_fit``, ``predict``, ``predict_proba``, ``predict_log_proba``, ``score``): it is
converted once to CSR (the validation split slices that CSR) and the engine reads its rows as
stored, so a sparse ``X`` is never densified.

The estimators reproduce scikit-learn's MLP step for step. They draw the initial weights, the
validation split and every epoch's shuffle from ``random_state`` in the same order as
scikit-learn, so the same arguments give the same numbers (up to floating-point rounding).

Mapping onto the engine. fastnn's losses average over the outputs, scikit-learn's gradient does
not, so fastnn's gradient is ``c`` times scikit-learn's (``c`` is 1 for softmax and one logistic
output, ``1/k`` for k multilabel or Poisson outputs, ``2/k`` for k squared-error outputs):

- SGD: ``lr = learning_rate_init / c`` (the adaptive schedule's floor too), ``l2 = c alpha / 2``;
- Adam: ``lr = learning_rate_init``, ``eps = c epsilon``, ``l2 = c alpha / 2``; Adam's step is
  unchanged when its gradient and ``eps`` are scaled alike;
- every batch is weighted (by ``sample_weight``, else by ones), so fastnn divides the L2 term by
  the batch's weight sum, as scikit-learn does;
- L-BFGS minimises scikit-learn's objective itself, so that its line search takes the same
  steps: the value computed from the outputs as scikit-learn computes it (its log-loss clips the
  probabilities to ``[eps, 1 - eps]`` of the dtype, so a confidently wrong prediction costs at
  most ``-log(eps)``), and the engine's gradient divided by ``c`` (scikit-learn's gradient is the
  unclipped one); ``gtol = tol``.

On divergence the estimators do what scikit-learn's MLP does: training goes on through NaN and
inf (the engine's divergence check is off), a validation score of non-finite predictions is NaN,
and ``fit`` raises scikit-learn's ValueError at its end when a parameter is not finite.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit, xlogy
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import inference
from .._validation import check_sparse_structure
from ..backend import BACKENDS, resolve_backend
from ..callbacks import OnPlateau, Plateau
from ..errors import InputError, InputTypeError, TrainingInterrupted
from ..layers import check_parameter, dense_stack
from ..lbfgs import LBFGS
from ..model import DTYPES, Sequential
from ..optimizers import SGD, Adam
from ..training import EpochRunner

if TYPE_CHECKING:
    from .._typing import SparseMatrix

# scikit-learn's activation names -> fastnn's
ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
STOCHASTIC_SOLVERS = ("sgd", "adam")
# scikit-learn's MLP takes every SciPy sparse format (its ``accept_sparse=["csr", "csc"]``
# converts the others to CSR); the engine trains on CSR rows, so here every sparse X becomes CSR,
# once, before the validation split slices it (the engine's own check then takes it as it is).
ACCEPT_SPARSE = "csr"


# scikit-learn's output activations and losses (sklearn/neural_network/_base.py), written as it
# writes them: the L-BFGS objective's value and the validation predictions follow its rounding,
# and its clipping of the probabilities.


def _softmax(z):
    p = np.exp(z - z.max(axis=1)[:, np.newaxis])
    p /= p.sum(axis=1)[:, np.newaxis]
    return p


OUTPUT_ACTIVATIONS = {"identity": lambda z: z, "logistic": expit, "softmax": _softmax,
                      "exp": np.exp}  # fmt: skip


def _clipped(y_prob):
    eps = np.finfo(y_prob.dtype).eps
    return np.clip(y_prob, eps, 1 - eps)


def log_loss(y_true, y_prob, sample_weight=None):
    """Cross-entropy of one-hot rows, the probabilities clipped to [eps, 1 - eps]."""
    return -np.average(xlogy(y_true, _clipped(y_prob)), weights=sample_weight, axis=0).sum()


def binary_log_loss(y_true, y_prob, sample_weight=None):
    """Cross-entropy of independent 0/1 labels, the probabilities clipped to [eps, 1 - eps]."""
    y_prob = _clipped(y_prob)
    return -np.average(xlogy(y_true, y_prob) + xlogy(1 - y_true, 1 - y_prob),
                       weights=sample_weight, axis=0).sum()  # fmt: skip


def squared_loss(y_true, y_pred, sample_weight=None):
    """Half the squared error, averaged over the samples and the outputs."""
    return 0.5 * np.average((y_true - y_pred) ** 2, weights=sample_weight, axis=0).mean()


def poisson_loss(y_true, y_pred, sample_weight=None):
    """Half the Poisson deviance, summed over the outputs."""
    return np.average(xlogy(y_true, y_true / y_pred) - y_true + y_pred, weights=sample_weight,
                      axis=0).sum()  # fmt: skip


# the output activation decides the loss
LOSS_FUNCTIONS = {"softmax": log_loss, "logistic": binary_log_loss, "identity": squared_loss,
                  "exp": poisson_loss}  # fmt: skip


def _lbfgs_iterations(result, max_iter):
    """scikit-learn's iteration count of an L-BFGS result, and its warning when L-BFGS stopped
    short: its own function where the installed release has it (the text changes between
    releases), else the same rule."""
    try:
        from sklearn.utils.optimize import _check_optimize_result
    except ImportError:
        _check_optimize_result = None
    if _check_optimize_result is not None:
        return _check_optimize_result("lbfgs", result, max_iter)
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        warnings.warn(
            f"lbfgs failed to converge after {n_iter} iteration(s) (status={result.status}):\n"
            f"{result.message}\n\nIncrease the number of iterations to improve the convergence "
            f"(max_iter={max_iter}).",
            ConvergenceWarning,
            stacklevel=5,
        )
    return n_iter


_Estimator = TypeVar("_Estimator", bound="_BaseFastMLP")


def _dtype_name(dtype):
    return None if dtype is None else np.dtype(dtype).name


class _BaseFastMLP(BaseEstimator):
    """The arguments of scikit-learn's MLP, plus ``backend`` and ``dtype``."""

    _parameter_constraints = {
        **MLPClassifier._parameter_constraints,
        "backend": [StrOptions(set(BACKENDS)), None],
        "dtype": [StrOptions(set(DTYPES)), type, np.dtype, None],
    }

    def __init__(
        self,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.dtype = dtype

    # -- learned parameters as views into the model ----------------------------------------

    @property
    def coefs_(self) -> list[np.ndarray]:
        """list of ndarray: the weight matrices, ``coefs_[i]`` of shape (n_in, n_out).

        Each array is a view into the model's parameters: writing into it
        (``est.coefs_[0][...] = W``) changes the model. The list itself is new at every access,
        so replacing one of its items (``est.coefs_[0] = W``) changes nothing; assign the
        attribute instead (``est.coefs_ = [W0, W1, ...]``), as with scikit-learn's MLP: every
        array's shape and values are checked, then copied into the model in its dtype.
        """
        return [layer.W for layer in self._fitted_model("coefs_").layers]

    @coefs_.setter
    def coefs_(self, value: Sequence[ArrayLike]) -> None:
        self._assign_parameters("coefs_", value, lambda layer: layer.W)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """list of ndarray: the bias vectors, ``intercepts_[i]`` of shape (n_out,).

        Views into the model's parameters, assigned as a whole like :attr:`coefs_`.
        """
        return [layer.b for layer in self._fitted_model("intercepts_").layers]

    @intercepts_.setter
    def intercepts_(self, value: Sequence[ArrayLike]) -> None:
        self._assign_parameters("intercepts_", value, lambda layer: layer.b)

    def _assign_parameters(self, name, value, view_of):
        """Copy the list ``value`` into the model's views ``view_of(layer)``, all checked first."""
        model = self.__dict__.get("model_")
        if model is None:
            raise NotFittedError(
                f"{name} cannot be assigned to an unfitted {type(self).__name__}: fit it first, "
                "which sets the layer sizes"
            )
        views = [view_of(layer) for layer in model.layers]
        if not isinstance(value, (list, tuple)):
            raise InputTypeError(
                f"{name} must be a list of arrays, one per layer ({len(views)}); got "
                f"{type(value).__name__}"
            )
        if len(value) != len(views):
            raise InputError(
                f"{name} must hold one array per layer: expected {len(views)}, got {len(value)}"
            )
        checked = [check_parameter(array, f"{name}[{index}]", view.shape, view.dtype)
                   for index, (array, view) in enumerate(zip(value, views))]  # fmt: skip
        for view, array in zip(views, checked):
            view[...] = array

    def _fitted_model(self, name):
        model = self.__dict__.get("model_")
        if model is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} before fit")
        return model

    # -- fitting -----------------------------------------------------------------------------

    def fit(
        self: _Estimator,
        X: ArrayLike | SparseMatrix,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
    ) -> _Estimator:
        """Train on ``(X, y)``, weighting the samples by ``sample_weight`` when given.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A SciPy sparse ``X`` (any format, matrix or array) is converted once to CSR and
            trained on as it is stored, never densified.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if not isinstance(sizes, numbers.Integral) else [sizes]
        if any(size <= 0 for size in sizes):
            raise InputError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        if incremental and self.early_stopping:
            raise InputError("partial_fit does not support early_stopping=True")
        first_pass = "model_" not in self.__dict__ or (not self.warm_start and not incremental)
        X_dtype = getattr(X, "dtype", None)
        check_sparse_structure(X, "X")  # before scikit-learn's conversions read its indices
        X, y = self._validate_input(X, y, incremental, reset=first_pass,
                                    dtype=self._input_dtype(first_pass))  # fmt: skip
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        layer_units = [X.shape[1], *sizes, y.shape[1]]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            # what scikit-learn would compute in: float32 for float32 input, else float64
            self._output_dtype = np.dtype(np.float32 if X_dtype == np.float32 else np.float64)
            self._initialize(y, layer_units, X.dtype)
        elif [self.model_.layers[0].n_in, *(la.n_out for la in self.model_.layers)] != layer_units:
            raise InputError(
                "the model was trained with other layer sizes (hidden_layer_sizes, features or "
                "outputs changed): set warm_start=False to start a new model"
            )
        self.model_.backend = resolve_backend(self.backend)
        weights = np.ones(X.shape[0], X.dtype) if sample_weight is None else sample_weight
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(X, y, weights, sample_weight is not None, incremental)
        else:
            self._fit_lbfgs(X, y, weights, sample_weight)
        if not np.isfinite(self.model_._params).all():
            raise InputError(
                "Solver produced non-finite parameter weights. The input data may contain large "
                "values and need to be preprocessed."
            )
        return self

    def _input_dtype(self, first_pass):
        """``dtype``, else the model's (warm start), else the input's (float32 stays)."""
        wanted = _dtype_name(self.dtype)
        if not first_pass:
            trained = self.model_.dtype
            if wanted not in (None, trained):
                raise InputError(f"dtype is {wanted!r} but the model was trained in {trained!r}; "
                                 "set warm_start=False to start a new model")  # fmt: skip
            return trained
        return wanted or (np.float64, np.float32)

    def _initialize(self, y, layer_units, dtype):
        """A new model with scikit-learn's initial weights, and the attributes that restart."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        model = Sequential(dense_stack(layer_units, ACTIVATIONS[self.activation]),
                           loss=self._engine_loss(), backend=resolve_backend(self.backend),
                           dtype=np.dtype(dtype).name, seed=0)  # fmt: skip
        model.set_weights([self._init_coef(a, b, dtype)
                           for a, b in zip(layer_units[:-1], layer_units[1:])])  # fmt: skip
        self.model_ = model
        self._best_weights = model.get_weights()
        self.__dict__.pop("_optimizer", None)
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._start_stopping_rule(self.early_stopping)

    def _init_coef(self, fan_in, fan_out, dtype):
        """scikit-learn's initialisation: Glorot uniform, biases too, factor 2 for logistic."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercept = self._random_state.uniform(-bound, bound, fan_out)
        return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)

    def _start_stopping_rule(self, early_stopping):
        """What the no-improvement rule watches: the validation score, or the training loss."""
        self._stopping_rule = _StoppingRule(self, early_stopping)
        if early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _new_optimizer(self):
        c = self._gradient_scale()
        l2 = c * self.alpha / 2  # fastnn adds 2 l2 W, scikit-learn alpha W (scaled by c)
        if self.solver == "sgd":
            optimizer = SGD(lr=self.learning_rate_init / c, momentum=self.momentum,
                            nesterov=bool(self.nesterovs_momentum), l2=l2,
                            schedule=self.learning_rate, power_t=self.power_t)  # fmt: skip
            optimizer.min_lr /= c
            return optimizer
        return Adam(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2,
                    eps=self.epsilon * c, l2=l2)  # fmt: skip

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped",
                stacklevel=4,
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _validation_split(self, X, y, weights, weighted):
        """scikit-learn's hold-out for early stopping, drawn from the same random state."""
        stratify = y if self._stratify_validation() else None
        parts = train_test_split(X, y, weights, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)  # fmt: skip
        X_train, X_val, y_train, y_val, w_train, w_val = parts
        if X_val.shape[0] < 2:
            raise InputError(
                "The validation set is too small. Increase 'validation_fraction' or the size of "
                "your dataset."
            )
        return X_train, y_train, w_train, X_val, self._decode(y_val), w_val if weighted else None

    def _fit_stochastic(self, X, y, weights, weighted, incremental):
        """scikit-learn's ``_fit_stochastic`` on the engine's loop: its shuffles, its loss and
        validation score as each epoch's logs, and its stopping rule as a callback."""
        if not incremental or "_optimizer" not in self.__dict__:
            self._optimizer = self._new_optimizer()
        early_stopping = self.early_stopping
        if early_stopping and self.validation_scores_ is None:  # warm start switched it on
            self._start_stopping_rule(True)
        elif not early_stopping and self.best_loss_ is None:  # ... or off
            self._start_stopping_rule(False)
        X_val = y_val = w_val = None
        if early_stopping:
            X, y, weights, X_val, y_val, w_val = self._validation_split(X, y, weights, weighted)
        n_samples = X.shape[0]
        self._optimizer.samples_seen = self.t_  # scikit-learn's schedules count every fit's
        shuffled = [np.arange(n_samples)]

        def orders(epoch):
            if self.shuffle:  # sklearn.utils.shuffle's draw, without its argument checks
                permutation = np.arange(n_samples)
                self._random_state.shuffle(permutation)
                shuffled[0] = shuffled[0][permutation]
            return shuffled[0]

        def logs(record, seconds):
            return self._epoch_logs(record, n_samples, X_val, y_val, w_val)

        self.n_iter_ = 0
        data = self.model_._epoch_data(X, self._engine_targets(y), weights)
        # as scikit-learn, train on through a non-finite loss; fit checks the weights at its end
        runner = EpochRunner(self.model_, data, self._batch_size(n_samples), self._optimizer,
                             verbose=0, rollback=False, stop_on_divergence=False)  # fmt: skip
        first = self.model_.epochs_trained  # the engine numbers epochs over every fit
        with runner:
            runner.warm_up()
            try:
                runner.run(first + (1 if incremental else self.max_iter), orders,
                           [self._stopping_rule], logs=logs, initial_epoch=first)  # fmt: skip
            except TrainingInterrupted:
                warnings.warn("Training interrupted by user.", stacklevel=4)
        if not incremental and not self.model_.stop_training and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if early_stopping:
            self.model_.set_weights(self._best_weights)

    def _epoch_logs(self, record, n_samples, X_val, y_val, w_val):
        """scikit-learn's bookkeeping after an epoch, as the epoch's logs: the loss with its L2
        term (each batch's, before its update) and the validation score."""
        self.n_iter_ += 1
        data_loss = float(record["batch_loss_sum"]) / self._loss_scale()
        # penalty_sum holds each batch's size times sum(W**2) / (its weight sum)
        penalty = 0.5 * self.alpha * float(record["penalty_sum"])
        self.loss_ = (data_loss + penalty) / n_samples
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        logs = {"loss": self.loss_}
        if X_val is not None:
            logs["val_score"] = score = self._score(X_val, y_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
        return logs

    def _score(self, X, y, sample_weight=None):
        """The validation score of a checked ``X``; NaN when a prediction is not finite (a
        diverged model), as scikit-learn scores it."""
        with np.errstate(over="ignore", invalid="ignore"):  # as quiet on every backend
            outputs = inference.outputs(self.model_, X, warn=False)
            predicted = self._predictions(OUTPUT_ACTIVATIONS[self.out_activation_](outputs))
        if np.issubdtype(predicted.dtype, np.floating) and not np.isfinite(predicted).all():
            return np.nan
        return self._score_function(y, predicted, sample_weight=sample_weight)

    @property
    def _no_improvement_count(self):
        return self._stopping_rule.plateau.count

    def _fit_lbfgs(self, X, y, weights, sample_weight):
        """scikit-learn's objective: its loss of the outputs (clipped log-loss included), plus
        ``alpha / 2 sum(W**2)`` over the weight sum, and its gradient."""
        optimizer = LBFGS(max_iter=self.max_iter, tol=self.tol, max_fun=self.max_fun,
                          l2=self.alpha / 2)  # fmt: skip
        data = self.model_._epoch_data(X, self._engine_targets(y), weights)
        activation = OUTPUT_ACTIVATIONS[self.out_activation_]
        loss = LOSS_FUNCTIONS[self.out_activation_]

        def value(outputs):
            # in float64 whatever the dtype: scikit-learn's L-BFGS unpacks SciPy's float64 point
            # into its weights, so its forward pass and its clipping eps are float64's
            return loss(y, activation(outputs.astype(np.float64, copy=False)), sample_weight)

        optimizer.minimize(self.model_, data, verbose=int(self.verbose), value=value,
                           grad_scale=1 / self._gradient_scale())  # fmt: skip
        result = optimizer.result_
        # scikit-learn's iteration count and its warning when L-BFGS stops short
        self.n_iter_ = _lbfgs_iterations(result, self.max_iter)
        self.loss_ = float(result.fun)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                "stochastic."
            )
        return True

    def _check_X(self, X):
        check_is_fitted(self)
        check_sparse_structure(X, "X")  # before scikit-learn's conversions read its indices
        X = validate_data(self, X, accept_sparse=ACCEPT_SPARSE, dtype=self.model_.dtype, order="C",
                          reset=False)  # fmt: skip
        self.model_.backend = resolve_backend(self.backend)
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        return tags


class _StoppingRule(OnPlateau):
    """scikit-learn's MLP stopping rule (``_update_no_improvement_count`` and the check after
    it): the validation score (with ``early_stopping``) or the training loss fails to improve
    by ``tol`` for more than ``n_iter_no_change`` epochs; the adaptive schedule then divides its
    rate by 5, any other stops. It keeps the best validation score's weights and the best
    loss, and says what it does as scikit-learn does with ``verbose``. It lasts as long as the
    estimator's training does (``partial_fit`` and warm starts carry its count on)."""

    def __init__(self, estimator, early_stopping):
        self.estimator = estimator
        self.early_stopping = early_stopping
        self.optimizer = None
        self.monitor = "val_score" if early_stopping else "loss"
        self.patience = estimator.n_iter_no_change
        self.plateau = Plateau(estimator.tol, mode="max" if early_stopping else "min")
        self.improved = self.stopped = False

    def on_train_begin(self, logs=None):
        self.optimizer = self.estimator._optimizer  # a new fit may bring a new optimizer
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        est = self.estimator
        super().on_epoch_end(epoch, logs)
        if self.early_stopping and self.improved:
            est.best_validation_score_ = logs["val_score"]
            est._best_weights = est.model_.get_weights()
        elif not self.early_stopping:
            est.best_loss_ = min(est.best_loss_, logs["loss"])

    def _message(self):
        est = self.estimator
        what = "Validation score" if self.early_stopping else "Training loss"
        return (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                "consecutive epochs.")  # fmt: skip

    def stopping(self):
        if self.estimator.verbose:
            print(self._message() + " Stopping.")

    def slowing(self):
        est = self.estimator
        if est.verbose:
            rate = self.optimizer.current_lr * est._gradient_scale()
            print(self._message() + f" Setting learning rate to {rate:f}")
