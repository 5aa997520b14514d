"""The model: a stack of :class:`~fastnn.Dense` layers and a loss, trained on either backend."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import inference, optimizers
from ._codes import ACTIVATIONS, CLASSIFICATION_LOSSES, IDENTITY, LOSSES, SGD_KIND, EpochData
from ._validation import (
    check_choice,
    check_features,
    check_int,
    check_loss_targets,
    check_memory,
    check_sample_weight,
    check_targets,
    check_weight_pairs,
    is_sparse,
)
from .backend import get_backend, resolve_backend
from .callbacks import adaptive_schedule
from .errors import InputError, InputTypeError
from .layers import Dense, check_architecture
from .lbfgs import LBFGS
from .params import ACT, aligned_zeros, build_layout, initialize, layer_views, seed_streams
from .scaling import Scaling
from .training import EpochRunner, History

if TYPE_CHECKING:
    from ._typing import PathLike, SparseMatrix

DTYPES = ("float32", "float64")


class Sequential:
    """A stack of dense layers with a loss, trained by SGD, Adam or L-BFGS on the ``numpy`` or
    ``numba`` backend.

    Parameters
    ----------
    layers : list of Dense, optional
        The layers, first to last; more can be appended with :meth:`add`.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse", "poisson"}
        What the last layer's output feeds. ``softmax_cross_entropy`` takes integer labels
        ``0..K-1`` and K logits; ``binary_cross_entropy`` takes labels 0/1 (or a 0/1 matrix, one
        output per label) and one logit per label (a final activation of ``None`` or
        ``"sigmoid"`` both mean a sigmoid output, computed stably from the logit); ``mse`` takes
        real targets; ``poisson`` takes non-negative counts, and the network's output is the log
        of the predicted mean (the deviance with a log link).
    backend : {"numba", "numpy"} or None
        ``None`` reads ``$FASTNN_BACKEND``, else uses ``"numba"``. Can be changed at any time,
        training continues from the same state.
    dtype : {"float32", "float64"}, default "float32"
        The dtype of the parameters and of the arithmetic (``numpy.float32``,
        ``numpy.float64`` or their dtypes are taken too).
    seed : int or None, default 0
        Seeds the initial weights and the shuffles: the same seed gives the same weights on
        either backend. ``None`` draws fresh entropy.

    Attributes
    ----------
    optimizer : SGD, Adam, LBFGS or None
        The optimizer of the last :meth:`fit`, reused (with its momentum and update count) when
        ``fit`` is called again without one.
    scaling : fastnn.scaling.Scaling or None
        How raw data relate to what the network sees. When set, ``fit``, ``predict``,
        ``predict_proba`` and ``evaluate`` take raw rows (and raw regression targets), the model
        standardises them itself, and ``predict`` answers in the target's units. :meth:`save`
        keeps it. :func:`fastnn.datasets.load_csv` computes one from the training rows.
    metadata : dict
        JSON-ready facts about the training data (data set, feature names, class names, ...),
        stored and restored by :meth:`save` / :func:`load`; the model does not read it.
    """

    def __init__(
        self,
        layers: Iterable[Dense] | None = None,
        loss: str = "softmax_cross_entropy",
        backend: str | None = None,
        dtype: DTypeLike = "float32",
        seed: int | None = 0,
    ) -> None:
        self._params = None
        self._layout = None
        self._layers = []
        self.loss = loss
        self._dtype = check_choice(
            np.dtype(dtype).name if _is_dtype(dtype) else dtype, "dtype", DTYPES
        )
        self.backend = backend
        self.seed = seed
        self.optimizer = None
        self.scaling = None
        self.metadata = {}
        if layers is not None:
            if isinstance(layers, Dense):
                raise InputTypeError(
                    "layers must be a list of Dense layers; got a single Dense: wrap it in a list"
                )
            try:
                for layer in layers:
                    self.add(layer)
            except Exception:
                for layer in self._layers:  # a model that failed to exist owns no layer
                    layer._in_model = False
                raise

    # -- structure -------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The backend's name, ``"numba"`` or ``"numpy"``; assign to switch on a live model."""
        return self._backend

    @backend.setter
    def backend(self, name: str | None) -> None:
        self._backend = resolve_backend(name)

    @property
    def _ops(self):
        """The backend's module, imported when first needed (the numpy backend never imports
        Numba, and an unpickled model imports nothing until it computes)."""
        return get_backend(self._backend)

    @property
    def dtype(self) -> str:
        """The parameters' dtype name, ``"float32"`` or ``"float64"``."""
        return self._dtype

    @property
    def layers(self) -> tuple[Dense, ...]:
        """tuple of Dense: the layers, first to last.

        Read-only: pass the layers to the constructor or append them with :meth:`add` before the
        model is built; the parameter buffer is laid out for exactly these layers.
        """
        return tuple(self._layers)

    @layers.setter
    def layers(self, value: object) -> None:
        raise AttributeError(
            f"Sequential.layers cannot be assigned (got {type(value).__name__}): pass the layers "
            "to Sequential(...) or append them with add() before the model is built"
        )

    @property
    def loss(self) -> str:
        """The loss's name; assigning another checks that the last layer can feed it."""
        return self._loss

    @loss.setter
    def loss(self, name: str) -> None:
        name = check_choice(name, "loss", LOSSES)
        if self._params is not None:
            check_architecture(self._layers, name)
        self._loss = name
        if self._params is not None:  # binary_cross_entropy computes its sigmoid in the loss
            last = len(self._layers) - 1
            self._layout[last, ACT] = self._kernel_activation(last)

    @property
    def seed(self) -> int | None:
        """The seed of the initial weights and the shuffles (None: fresh entropy).

        Can be assigned until the model is built (its weights are then drawn from it).
        """
        return self._seed

    @seed.setter
    def seed(self, seed: int | None) -> None:
        seed = None if seed is None else check_int(seed, "seed", low=0)
        if self._params is not None:
            raise InputError(
                f"the seed of a built model is fixed (its weights were drawn from seed="
                f"{self._seed!r}); got {seed!r}: create a new Sequential(seed={seed!r})"
            )
        self._seed = seed
        self._init_seq, self._shuffle_rng = seed_streams(seed)

    def add(self, layer: Dense) -> None:
        """Append a :class:`Dense` layer; its ``n_in`` must equal the previous layer's ``n_out``."""
        if not isinstance(layer, Dense):
            raise InputTypeError(f"layer must be a fastnn.Dense; got {type(layer).__name__}")
        if self._params is not None:
            raise InputError(
                "cannot add a layer to a model that is already built (trained, or "
                "given weights); start a new Sequential"
            )
        if layer._in_model:
            raise InputError(
                f"{layer!r} already belongs to a model; create a new Dense (or copy.copy(layer))"
            )
        if self._layers and self._layers[-1].n_out != layer.n_in:
            raise InputError(
                f"layers do not chain: layer {len(self._layers) - 1} has n_out="
                f"{self._layers[-1].n_out} but the next Dense has n_in={layer.n_in}"
            )
        self._layers.append(layer)
        layer._in_model = True

    def summary(self) -> str:
        """A one-line description: widths, activations, loss, dtype and backend."""
        if not self.layers:
            return "Sequential(no layers)"
        widths = [str(self.layers[0].n_in)]
        for layer in self.layers:
            act = f" {layer.activation}" if layer.activation else ""
            widths.append(f"{layer.n_out}{act}")
        n_params = sum(layer.n_in * layer.n_out + layer.n_out for layer in self.layers)
        return (
            f"{' -> '.join(widths)} | loss {self.loss} | {n_params:,} parameters | "
            f"{self.dtype} | backend {self.backend}"
        )

    def __getstate__(self):
        # The layers' views would be pickled as copies: keep the names and the one buffer, and
        # re-attach the views when unpickled.
        state = self.__dict__.copy()
        state["_layers"] = [Dense(**layer.to_config()) for layer in self._layers]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        for layer in self._layers:
            layer._in_model = True
        if self._params is not None:
            params = aligned_zeros(self._params.size, self._params.dtype)
            params[...] = self._params
            self._params = params
            self._attach_layers()

    def __repr__(self):
        return (
            f"Sequential({list(self.layers)!r}, loss={self.loss!r}, backend={self.backend!r}, "
            f"dtype={self.dtype!r}, seed={self.seed!r})"
        )

    def _kernel_activation(self, index):
        layer = self.layers[index]
        if index == len(self.layers) - 1 and self.loss == "binary_cross_entropy":
            return IDENTITY  # the sigmoid is part of the loss, computed from the logit
        return ACTIVATIONS[layer.activation]

    @property
    def _loss_code(self):
        return LOSSES[self.loss]

    def _build(self):
        """Allocate the parameter buffer, lay the layers out in it and draw the initial weights."""
        if self._params is not None:
            return
        check_architecture(self.layers, self.loss)
        shapes = [(layer.n_in, layer.n_out) for layer in self.layers]
        activations = [self._kernel_activation(i) for i in range(len(self.layers))]
        layout, size = build_layout(shapes, activations, self.dtype)
        check_memory(size * np.dtype(self.dtype).itemsize, f"the parameters of {self.summary()}")
        self._layout = layout
        self._params = aligned_zeros(size, self.dtype)
        self._attach_layers()
        rng = np.random.default_rng(self._init_seq)
        for layer in self.layers:
            initialize(layer.W, layer.activation, rng)
            layer.b[...] = layer.bias_init

    def _attach_layers(self):
        """Point every layer's W and b at its place in the parameter buffer."""
        for index, layer in enumerate(self._layers):
            layer._attach(*layer_views(self._params, self._layout, index))

    # -- data ------------------------------------------------------------------------------

    @property
    def scaling(self) -> Scaling | None:
        """The :class:`~fastnn.scaling.Scaling` between raw data and the network, or None."""
        return self._scaling

    @scaling.setter
    def scaling(self, value: Scaling | None) -> None:
        if value is not None and not isinstance(value, Scaling):
            raise InputTypeError(
                f"scaling must be a fastnn.scaling.Scaling or None; got {type(value).__name__}"
            )
        if value is not None and self.layers and value.n_features != self.layers[0].n_in:
            raise InputError(
                f"scaling has statistics of {value.n_features} features but the model's first "
                f"layer takes {self.layers[0].n_in}"
            )
        self._scaling = value

    def _build_and_check_X(self, X, name="X"):
        """Build the model if it is not yet built, then return ``X`` checked, standardised with
        :attr:`scaling` when there is one, and cast."""
        self._build()
        if self.scaling is None:
            return check_features(X, name, self.dtype, self.layers[0].n_in, sparse=True)
        if is_sparse(X):
            raise InputError(
                f"{name} is sparse, but this model standardises its inputs (its scaling), "
                "which would make every zero nonzero: pass a dense array, or scale the "
                "features yourself and set model.scaling = None"
            )
        raw = check_features(X, name, np.float64, self.layers[0].n_in)
        return check_features(self.scaling.features(raw, np.float64), name, self.dtype)

    def _check_xy(self, X, y, x_name="X", y_name="y"):
        """Checked (X, labels, targets); the loss that does not use one gets it empty."""
        X = self._build_and_check_X(X, x_name)
        n, n_out = X.shape[0], self.layers[-1].n_out
        if self.loss != "mse" or self.scaling is None:
            labels, targets = check_loss_targets(y, y_name, n, self.loss, n_out, self.dtype)
            return X, labels, targets
        raw = check_targets(y, y_name, n, n_out, np.float64)
        targets = check_targets(self.scaling.targets(raw, np.float64), y_name, n, n_out, self.dtype)
        return X, np.empty(0, np.int64), targets

    def _epoch_data(self, X, y, sample_weight=None, names=("X", "y", "sample_weight")):
        """The checked data as the record the backends take (weights empty when None)."""
        X, labels, targets = self._check_xy(X, y, *names[:2])
        weights = check_sample_weight(sample_weight, names[2], X.shape[0], self.dtype)
        return EpochData(X, labels, targets, weights)

    # -- training --------------------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike | SparseMatrix,
        y: ArrayLike,
        epochs: int = 1,
        batch_size: int = 1,
        optimizer: optimizers.Optimizer | LBFGS | None = None,
        shuffle: bool = True,
        validation_data: tuple[ArrayLike | SparseMatrix, ...] | None = None,
        verbose: int = 1,
        workers: int = 1,
        sample_weight: ArrayLike | None = None,
        rollback: bool = True,
    ) -> History:
        """Train the network with ``optimizer`` (SGD, Adam or L-BFGS).

        Parameters
        ----------
        X : array-like or SciPy sparse matrix, shape (n_samples, n_features)
            A sparse ``X`` (CSR, CSC or COO, matrix or array) is converted once to CSR in the
            model's dtype and never densified: the kernels read its rows as stored.
        y : array-like
            Integer labels (classification losses) or targets of shape (n_samples,) or
            (n_samples, n_outputs) (``mse``).
        epochs : int, default 1
        batch_size : int, default 1
            1 updates after every sample; larger batches average the gradient over the batch
            (the last, shorter batch over its own size).
        optimizer : SGD, Adam or LBFGS, optional
            Defaults to the model's last optimizer, else ``SGD()``. Its state (momentum or
            moments, update count, schedule) carries on when the same instance is passed again.
            :class:`~fastnn.LBFGS` trains on the full batch and ignores ``epochs``,
            ``batch_size`` and ``shuffle``; its history has one entry per iteration.
        shuffle : bool, default True
            Visit the samples in a fresh order each epoch, drawn from the model's seed;
            ``False`` visits them in order.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
            Evaluated after every epoch into the ``val_*`` history keys.
        verbose : int, default 1
            0 silent, 1 a progress bar and a line per epoch, 2 the line only.
        workers : int, default 1
            Above 1, per-sample SGD (``batch_size=1``) runs Hogwild-style on the ``numba``
            backend: that many threads each take a share of the epoch and update the shared
            parameters without locks. Results then vary from run to run (not bit-reproducible);
            the ``numpy`` backend runs the shares one after another. The default, 1, is serial
            and deterministic. At most 4 per CPU this process may use (more threads would only
            wait for a core); above the number of samples, one thread per sample.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, not all zero. A batch's gradient is then
            ``sum(w_i g_i) / sum(w_i)`` and the L1/L2 terms are divided by the batch's weight
            sum (scikit-learn's MLP definition); the history's loss and accuracy are weighted
            means. With ``batch_size=1`` the weight cancels from the data gradient, so a weight
            only scales the penalty (by ``1 / w``), and a sample of weight 0 is skipped.
        rollback : bool, default True
            Copy the parameters and the optimizer state at the start of each epoch, so that an
            epoch whose loss becomes NaN or infinite (or one interrupted with Ctrl-C, through
            :meth:`~fastnn.TrainingInterrupted.rollback`) can be undone. ``False`` saves that
            copy's memory, one more model's worth (for a 100000-256 first layer, 98 MiB), and
            leaves a diverged model as the divergence left it.

        Returns
        -------
        History

        Raises
        ------
        ValueError
            On bad input, or when the training loss becomes NaN or infinite; then the
            parameters and optimizer state are restored to the start of that epoch (unless
            ``rollback=False``).
        """
        data = self._epoch_data(X, y, sample_weight)
        epochs = check_int(epochs, "epochs", low=0)
        batch_size = check_int(batch_size, "batch_size", low=1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise InputTypeError(f"shuffle must be True or False; got {shuffle!r}")
        verbose = check_int(verbose, "verbose", low=0)
        workers = _check_workers(workers)
        validation = self._check_validation(validation_data)
        optimizer = self._resolve_optimizer(optimizer)
        if isinstance(optimizer, LBFGS):  # full batch: epochs, batch_size, shuffle do not apply
            return optimizer.minimize(self, data, verbose)
        if workers > 1 and (batch_size != 1 or optimizer.kind != SGD_KIND):
            raise InputError(
                "workers > 1 runs per-sample SGD only (batch_size=1, optimizer SGD); got "
                f"batch_size={batch_size} and {optimizer!r} with workers={workers}"
            )
        if not isinstance(rollback, (bool, np.bool_)):
            raise InputTypeError(f"rollback must be True or False; got {rollback!r}")
        workers = min(workers, data.X.shape[0])  # a thread without a sample has nothing to do
        n = data.X.shape[0]
        rng = self._shuffle_rng

        def orders(epoch):
            return rng.permutation(n) if shuffle else np.arange(n)

        def validate():
            return inference.evaluate(self, validation)

        schedule = adaptive_schedule(optimizer, validation is not None, verbose)
        callbacks = [schedule] if schedule is not None else []
        with EpochRunner(self, data, batch_size, optimizer, workers, verbose,
                         bool(rollback)) as runner:  # fmt: skip
            runner.warm_up()  # load (or compile) the kernels first: epoch_time is training only
            return runner.run(epochs, orders, callbacks, None if validation is None else validate)

    def _resolve_optimizer(self, optimizer):
        """The optimizer of this fit: the one given, else the model's last one, else SGD()."""
        if optimizer is None:
            optimizer = self.optimizer if self.optimizer is not None else optimizers.SGD()
        elif not isinstance(optimizer, (optimizers.Optimizer, LBFGS)):
            raise InputTypeError(
                "optimizer must be a fastnn optimizer (fastnn.SGD, fastnn.Adam or fastnn.LBFGS); "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        return optimizer

    def _check_validation(self, validation_data):
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise InputError(
                "validation_data must be a tuple (X_val, y_val) or (X_val, y_val, "
                f"sample_weight_val); got {type(validation_data).__name__}"
            )
        names = tuple(f"validation_data[{i}]" for i in range(3))
        return self._epoch_data(*validation_data, names=names)

    # -- inference -------------------------------------------------------------------------

    def predict(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """Class labels (classification losses) or predicted values (regression losses).

        Values have shape (n_samples,) for one output, else (n_samples, n_outputs); with
        ``poisson`` they are the predicted means ``exp(output)``. With several binary outputs
        (multilabel), labels are a 0/1 matrix, one column per label.
        """
        out = inference.outputs(self, self._build_and_check_X(X))
        if self.loss in CLASSIFICATION_LOSSES:
            return inference.labels(self, out)
        out = inference.values(self, out)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_proba(self, X: ArrayLike | SparseMatrix) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes); rows sum to 1.

        With ``binary_cross_entropy`` and one output the columns are P(y=0) and P(y=1); with
        several outputs (multilabel) each column is the probability of its label.
        """
        return inference.probabilities(self, inference.outputs(self, self._build_and_check_X(X)))

    def evaluate(
        self, X: ArrayLike | SparseMatrix, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> dict[str, float]:
        """The mean loss and metrics on (X, y), weighted by ``sample_weight`` when given.

        Returns
        -------
        dict
            ``{"loss", "accuracy"}`` for classification (multilabel: the share of rows whose
            every label is right), ``{"loss", "mse", "r2"}`` for regression. With
            :attr:`scaling`, ``loss`` is on the network's scale and ``mse``, ``r2`` are in the
            target's units.
        """
        return inference.evaluate(self, self._epoch_data(X, y, sample_weight))

    # -- parameters ------------------------------------------------------------------------

    def get_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Copies of the parameters: ``[(W, b), ...]``, W of shape (n_in, n_out), b (n_out,)."""
        self._build()
        return [(layer.W.copy(), layer.b.copy()) for layer in self.layers]

    def set_weights(self, weights: Sequence[tuple[ArrayLike, ArrayLike]]) -> None:
        """Replace the parameters with ``[(W, b), ...]`` of the shapes :meth:`get_weights` gives.

        Everything is checked before anything changes.
        """
        self._build()
        shapes = [(layer.W.shape, layer.b.shape) for layer in self.layers]
        for layer, (W, b) in zip(self.layers, check_weight_pairs(weights, shapes, self.dtype)):
            layer.W[...] = W
            layer.b[...] = b

    # -- files -----------------------------------------------------------------------------

    def save(self, path: PathLike) -> str:
        """Write the architecture (JSON) and the weights (named arrays) to an ``.npz`` file.

        The file is written to a temporary file in the same folder and renamed into place, so a
        failed save leaves any previous file intact. ``".npz"`` is appended when missing, as
        :func:`numpy.savez` does. The optimizer state is not saved. Returns the path written.
        """
        from .serialization import save

        return save(self, path)


MAX_WORKERS_PER_CPU = 4  # Hogwild threads beyond this many per core only wait for one


def _usable_cpus():
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _check_workers(workers):
    workers = check_int(workers, "workers", low=1)
    most = MAX_WORKERS_PER_CPU * _usable_cpus()
    if workers > most:
        raise InputError(
            f"workers must be at most {most}, {MAX_WORKERS_PER_CPU} per CPU this process may use "
            f"(more threads would only wait for a core); got {workers}"
        )
    return workers


def _is_dtype(value):
    return isinstance(value, (type, np.dtype)) and value in (np.float32, np.float64)


__all__ = ["DTYPES", "Sequential"]
