"""scikit-learn estimators that train through fastnn's engine.

:class:`FastMLPClassifier` and :class:`FastMLPRegressor` take the constructor arguments of
scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` with ``solver="sgd"`` and a constant
learning rate, plus ``backend`` and ``dtype``, and train a :class:`~fastnn.Sequential` one epoch
per iteration with one :class:`~fastnn.SGD` whose momentum carries over from epoch to epoch.

Mapping onto the engine (``b`` is the batch size, ``k`` the number of regression outputs):

- classification: ``lr = learning_rate_init`` and ``l2 = alpha / (2 b)``. scikit-learn adds
  ``alpha * W / b`` to the mean gradient of each batch; fastnn's SGD adds ``2 * l2 * W``.
- regression: fastnn's loss is ``mean((y_hat - y)**2)`` over samples and outputs, whose gradient is
  ``2 / k`` times scikit-learn's (``(y_hat - y) / b``), so ``lr = learning_rate_init * k / 2`` and
  ``l2 = alpha / (k b)``. The updates are then scikit-learn's, step for step.

scikit-learn divides the penalty of the last, shorter batch of an epoch by that batch's own size;
fastnn keeps ``b``. That is the only difference in the updates.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import check_choice, check_int, check_number
from .backend import resolve_backend
from .errors import InputError, InputTypeError
from .layers import Dense
from .model import DTYPES, Sequential
from .optimizers import SGD

# scikit-learn's activation names -> fastnn's
ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_SEED_BOUND = 2**31 - 1


def _dtype_name(dtype):
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = dtype
    return check_choice(name, "dtype", DTYPES)


class _BaseFastMLP(BaseEstimator):
    """What the classifier and the regressor share: arguments, checks and the training loop."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
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
        n_iter_no_change=10,
        backend=None,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
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
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.dtype = dtype

    # -- learned parameters as views into the model ----------------------------------------

    @property
    def coefs_(self):
        """list of ndarray: the weight matrices, ``coefs_[i]`` of shape (n_in, n_out).

        Views into the model's parameters: writing to them changes the model.
        """
        return [layer.W for layer in self._fitted_model("coefs_").layers]

    @property
    def intercepts_(self):
        """list of ndarray: the bias vectors, ``intercepts_[i]`` of shape (n_out,)."""
        return [layer.b for layer in self._fitted_model("intercepts_").layers]

    def _fitted_model(self, name):
        model = self.__dict__.get("model_")
        if model is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} before fit")
        return model

    # -- checks ----------------------------------------------------------------------------

    def _check_hyperparameters(self):
        """The arguments, checked, as a dict; errors name the argument."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise InputTypeError(
                f"hidden_layer_sizes must be an int or a sequence of ints; got {sizes!r}"
            ) from None
        sizes = [check_int(s, "hidden_layer_sizes", low=1) for s in sizes]
        batch_size = self.batch_size
        if not (isinstance(batch_size, str) and batch_size == "auto"):
            batch_size = check_int(batch_size, "batch_size", low=1)
        for name in ("shuffle", "nesterovs_momentum", "early_stopping", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputTypeError(f"{name} must be True or False; got {getattr(self, name)!r}")
        return {
            "sizes": sizes,
            "activation": ACTIVATIONS[check_choice(self.activation, "activation", ACTIVATIONS)],
            "alpha": check_number(self.alpha, "alpha", low=0),
            "batch_size": batch_size,
            "lr": check_number(self.learning_rate_init, "learning_rate_init", low=0, low_open=True),
            "max_iter": check_int(self.max_iter, "max_iter", low=1),
            "tol": check_number(self.tol, "tol", low=0),
            "verbose": check_int(
                int(self.verbose) if isinstance(self.verbose, (bool, np.bool_)) else self.verbose,
                "verbose",
                low=0,
            ),
            "momentum": check_number(self.momentum, "momentum", low=0, high=1, high_open=True),
            "validation_fraction": check_number(
                self.validation_fraction,
                "validation_fraction",
                low=0,
                high=1,
                low_open=True,
                high_open=True,
            ),
            "n_iter_no_change": check_int(self.n_iter_no_change, "n_iter_no_change", low=1),
            "backend": resolve_backend(self.backend),
            "dtype": _dtype_name(self.dtype),
        }

    # -- training --------------------------------------------------------------------------

    def _fit(self, X, y, incremental, classes=None):
        hp = self._check_hyperparameters()
        if incremental and self.early_stopping:
            raise InputError("partial_fit does not support early_stopping=True")
        first_pass = "model_" not in self.__dict__ or (not self.warm_start and not incremental)
        if first_pass:
            # None follows X, as scikit-learn's MLP does: float32 stays float32, else float64
            dtype = hp["dtype"] or (np.float64, np.float32)
        else:
            dtype = self.model_.dtype
            if hp["dtype"] not in (None, dtype):
                raise InputError(
                    f"dtype is {hp['dtype']!r} but the model was trained in {dtype!r}; "
                    "set warm_start=False to start a new model"
                )
        X, y = validate_data(
            self, X, y, dtype=dtype, order="C", reset=first_pass, **self._y_validation
        )
        labels, targets = self._encode_targets(y, first_pass, incremental, classes, X.dtype)
        n_outputs = targets.shape[1]
        random_state = check_random_state(self.random_state)

        layer_units = [X.shape[1], *hp["sizes"], n_outputs]
        if first_pass:
            layers = [
                Dense(n_in, n_out, activation=hp["activation"])
                for n_in, n_out in zip(layer_units[:-2], layer_units[1:-1])
            ]
            layers.append(Dense(layer_units[-2], layer_units[-1]))
            self.model_ = Sequential(
                layers,
                loss=self._engine_loss(n_outputs),
                backend=hp["backend"],
                dtype=X.dtype.name,
                seed=int(random_state.randint(_SEED_BOUND)),
            )
            self.n_outputs_ = n_outputs
            self.n_layers_ = len(layer_units)
            self.out_activation_ = self._out_activation(n_outputs)
            self.t_ = 0
            self.n_iter_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.__dict__.pop("_best_weights", None)
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf
        else:
            trained = [self.model_.layers[0].n_in] + [la.n_out for la in self.model_.layers]
            if trained != layer_units:
                raise InputError(
                    f"the model was trained with layer sizes {trained}; this call needs "
                    f"{layer_units} (hidden_layer_sizes or the number of outputs changed): "
                    "set warm_start=False to start a new model"
                )
            self.model_.backend = hp["backend"]

        # what the stopping rule tracks, also when warm_start switches early_stopping on or off
        if self.early_stopping and not incremental:
            if self.validation_scores_ is None:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf
        # the engine takes integer labels (classification) or float targets (regression)
        train_y = labels if len(labels) else targets
        X_train, y_train, X_val, y_val = X, train_y, None, None
        if self.early_stopping and not incremental:
            X_train, X_val, y_train, y_val = train_test_split(
                X,
                train_y,
                random_state=random_state,
                test_size=hp["validation_fraction"],
                stratify=labels if len(labels) else None,
            )
            if X_val.shape[0] < 2:
                raise InputError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )

        n_samples = X_train.shape[0]
        if hp["batch_size"] == "auto":
            batch_size = min(200, n_samples)
        else:
            if hp["batch_size"] > n_samples:
                warnings.warn(
                    f"batch_size={hp['batch_size']} is larger than the {n_samples} training "
                    "samples; it is clipped to the number of samples",
                    UserWarning,
                    stacklevel=3,
                )
            batch_size = min(hp["batch_size"], n_samples)

        # lr and l2 that make fastnn's update equal to scikit-learn's (see the module docstring)
        lr, l2 = self._engine_lr_l2(hp["lr"], hp["alpha"], batch_size, n_outputs)
        if not incremental or "_optimizer" not in self.__dict__:
            self._optimizer = SGD(
                lr=lr, momentum=hp["momentum"], nesterov=bool(self.nesterovs_momentum), l2=l2
            )
        else:
            self._optimizer.lr, self._optimizer.l2 = lr, l2
        n_batches = -(-n_samples // batch_size)

        self.n_iter_ = 0
        for _ in range(1 if incremental else hp["max_iter"]):
            history = self.model_.fit(
                X_train,
                y_train,
                epochs=1,
                batch_size=batch_size,
                optimizer=self._optimizer,
                shuffle=bool(self.shuffle),
                verbose=0,
            )
            self.n_iter_ += 1
            self.t_ += n_samples
            # scikit-learn's loss: the data loss plus (alpha / 2) ||W||^2 / b for each batch
            squares = sum(float(np.dot(W.ravel(), W.ravel())) for W in self.coefs_)
            penalty = 0.5 * hp["alpha"] * squares * n_batches / n_samples
            self.loss_ = float(self._sklearn_loss(history.history["loss"][0]) + penalty)
            self.loss_curve_.append(self.loss_)
            if hp["verbose"]:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if X_val is not None:
                self._update_validation(X_val, y_val, hp)
            else:
                self._update_training_loss(hp)
            if self._no_improvement_count > hp["n_iter_no_change"]:
                if hp["verbose"]:
                    what = "Validation score" if X_val is not None else "Training loss"
                    print(
                        f"{what} did not improve more than tol={hp['tol']:f} for "
                        f"{hp['n_iter_no_change']} consecutive epochs. Stopping."
                    )
                break
            if not incremental and self.n_iter_ == hp["max_iter"]:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({hp['max_iter']}) reached and "
                    "the optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        if X_val is not None and "_best_weights" in self.__dict__:
            self.model_.set_weights(self._best_weights)  # the best epoch's weights
        return self

    def _update_validation(self, X_val, y_val, hp):
        score = self._score_checked(X_val, y_val)
        self.validation_scores_.append(score)
        if hp["verbose"]:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + hp["tol"]:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_weights = self.model_.get_weights()

    def _update_training_loss(self, hp):
        if self.loss_curve_[-1] > self.best_loss_ - hp["tol"]:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=self.model_.dtype, order="C", reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


class FastMLPClassifier(ClassifierMixin, _BaseFastMLP):
    """A multilayer perceptron classifier trained by fastnn, with scikit-learn's interface.

    Two classes train one sigmoid output with binary cross-entropy; more classes train a softmax
    output with cross-entropy. Labels can be of any type that :func:`numpy.unique` sorts
    (strings included); they are kept in :attr:`classes_`.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
        The width of each hidden layer; ``()`` trains no hidden layer (logistic regression).
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        The hidden layers' activation.
    alpha : float, default 0.0001
        L2 penalty with scikit-learn's meaning: each batch of ``b`` samples adds
        ``alpha / (2 b) * sum(||W||^2)`` to its mean loss (fastnn's ``SGD(l2=alpha / (2 b))``).
    batch_size : int or "auto", default "auto"
        Samples per update; ``"auto"`` is ``min(200, n_samples)``; ``1`` is per-sample SGD.
    learning_rate_init : float, default 0.001
        The constant learning rate of SGD.
    max_iter : int, default 200
        The most epochs (passes over the training data) one ``fit`` runs.
    shuffle : bool, default True
        Visit the samples in a fresh order each epoch.
    random_state : int, RandomState instance or None, default None
        Seeds the initial weights, the shuffles and the validation split.
    tol : float, default 1e-4
        The improvement of the training loss (or validation score, with ``early_stopping``) below
        which an epoch counts as no improvement.
    verbose : bool, default False
        Print the loss after every epoch.
    warm_start : bool, default False
        ``fit`` continues from the current weights instead of starting anew.
    momentum : float, default 0.9
        SGD momentum, in [0, 1).
    nesterovs_momentum : bool, default True
        Use Nesterov's momentum.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified), stop when its
        accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the best
        weights.
    validation_fraction : float, default 0.1
        The share of the training data held out with ``early_stopping``.
    n_iter_no_change : int, default 10
        Epochs without improvement before training stops.
    backend : {"numba", "numpy"} or None, default None
        fastnn's backend; ``None`` reads ``$FASTNN_BACKEND``, else uses ``"numba"``.
    dtype : {"float32", "float64"} or None, default None
        The dtype of the parameters and of the arithmetic. ``None`` follows the first ``fit``'s
        ``X``, as scikit-learn's MLP does: float32 stays float32, anything else is float64.
        Inputs are cast to the model's dtype once per call.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    model_ : fastnn.Sequential
        The trained network.
    coefs_, intercepts_ : list of ndarray
        Weights and biases of each layer (views into ``model_``).
    loss_ : float
        The training loss of the last epoch, with the L2 term.
    loss_curve_ : list of float
        The training loss after each epoch (the mean over the epoch, each sample measured before
        its update, plus the L2 term of the end-of-epoch weights).
    validation_scores_ : list of float or None
        The accuracy on the held-out data after each epoch (with ``early_stopping``).
    best_validation_score_ : float or None
    best_loss_ : float or None
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    t_ : int
        Training samples seen, all calls together.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_layers_, n_outputs_ : int
    out_activation_ : {"logistic", "softmax"}
    """

    _y_validation = {"multi_output": False}

    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels, at least two different ones.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), optional
            Every class that will ever appear; required on the first call.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True, classes=classes)

    def _encode_targets(self, y, first_pass, incremental, classes, dtype):
        """Integer codes of ``y`` in ``classes_``, setting ``classes_`` when it starts anew."""
        check_classification_targets(y)
        present = np.unique(y)
        if incremental and "classes_" not in self.__dict__:
            if classes is None:
                raise InputError("classes must be passed on the first call to partial_fit.")
            known = np.unique(classes)
        elif incremental:
            known = self.classes_
            if classes is not None and not np.array_equal(np.unique(classes), known):
                raise InputError(
                    f"classes={np.unique(classes)!r} is not the same as on the first call to "
                    f"partial_fit, which was {known!r}"
                )
        elif first_pass:
            known = present
        else:
            known = self.classes_
            if not np.array_equal(present, known):
                raise InputError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {known}, `y` has {present}"
                )
        if len(known) < 2:
            raise InputError(
                f"{type(self).__name__} needs samples of at least 2 classes to train; got 1 "
                f"class: {known!r}"
            )
        unseen = np.setdiff1d(present, known)
        if len(unseen):
            raise InputError(f"`y` has classes not in `classes_` {known!r}: {unseen!r}")
        self.classes_ = known
        if "model_" in self.__dict__ and not first_pass:
            expected = 1 if len(known) == 2 else len(known)
            if self.n_outputs_ != expected:
                raise InputError("the number of classes changed; set warm_start=False")
        labels = np.searchsorted(known, y).astype(np.int64)
        n_outputs = 1 if len(known) == 2 else len(known)
        return labels, np.empty((0, n_outputs))

    @staticmethod
    def _engine_loss(n_outputs):
        return "binary_cross_entropy" if n_outputs == 1 else "softmax_cross_entropy"

    @staticmethod
    def _out_activation(n_outputs):
        return "logistic" if n_outputs == 1 else "softmax"

    @staticmethod
    def _engine_lr_l2(lr, alpha, batch_size, n_outputs):
        return lr, alpha / (2.0 * batch_size)

    @staticmethod
    def _sklearn_loss(engine_loss):
        return engine_loss

    def _score_checked(self, X, labels):
        return float(np.mean(self._proba_checked(X).argmax(axis=1) == labels))

    def _proba_checked(self, X):
        proba = self.model_.predict_proba(X).astype(np.float64)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_proba(self, X):
        """Class probabilities, one column per class in :attr:`classes_`; rows sum to 1.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
        """
        return self._proba_checked(self._check_X(X))

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample, a label from :attr:`classes_`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class FastMLPRegressor(RegressorMixin, _BaseFastMLP):
    """A multilayer perceptron regressor trained by fastnn, with scikit-learn's interface.

    The output layer is linear and the loss is the squared error; ``y`` may have several columns
    (one output unit each). The parameters are those of :class:`FastMLPClassifier`, with these
    differences:

    Parameters
    ----------
    alpha : float, default 0.0001
        L2 penalty with scikit-learn's meaning (``alpha / (2 b) * sum(||W||^2)`` added to each
        batch's loss); see the module notes for how it maps onto fastnn's SGD.
    early_stopping : bool, default False
        Stop on the R^2 score of the held-out data (not stratified).

    Attributes
    ----------
    loss_, loss_curve_ : float, list of float
        scikit-learn's squared loss, ``mean((y_hat - y)**2) / 2``, plus the L2 term.
    validation_scores_ : list of float or None
        R^2 on the held-out data after each epoch (with ``early_stopping``).
    out_activation_ : "identity"
    """

    _y_validation = {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def partial_fit(self, X, y):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True)

    def _encode_targets(self, y, first_pass, incremental, classes, dtype):
        y = np.asarray(y)
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        if "model_" in self.__dict__ and not first_pass and targets.shape[1] != self.n_outputs_:
            raise InputError(
                f"y has {targets.shape[1]} output(s) but the model was trained with "
                f"{self.n_outputs_}; set warm_start=False to start a new model"
            )
        return np.empty(0, np.int64), np.ascontiguousarray(targets, dtype=dtype)

    @staticmethod
    def _engine_loss(n_outputs):
        return "mse"

    @staticmethod
    def _out_activation(n_outputs):
        return "identity"

    @staticmethod
    def _engine_lr_l2(lr, alpha, batch_size, n_outputs):
        return lr * n_outputs / 2.0, alpha / (n_outputs * batch_size)

    @staticmethod
    def _sklearn_loss(engine_loss):
        return engine_loss / 2.0

    def _score_checked(self, X, targets):
        return float(r2_score(targets, self.model_.predict(X).reshape(targets.shape)))

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs), float64
            1-D when the model has one output.
        """
        X = self._check_X(X)
        return self.model_.predict(X).astype(np.float64)


__all__ = ["FastMLPClassifier", "FastMLPRegressor"]
