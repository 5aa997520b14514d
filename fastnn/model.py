"""The model: a stack of :class:`~fastnn.Dense` layers and a loss, trained on either backend."""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import inference, optimizers
from ._codes import (
    ACTIVATIONS,
    CLASSIFICATION_LOSSES,
    IDENTITY,
    LOSSES,
    SGD_KIND,
    DropoutPlan,
    EpochData,
)
from ._validation import (
    all_finite,
    check_choice,
    check_features,
    check_int,
    check_loss_targets,
    check_memory,
    check_number,
    check_sample_weight,
    check_targets,
    check_weight_pairs,
    is_sparse,
)
from .backend import get_backend, resolve_backend
from .callbacks import Callback, adaptive_schedule
from .errors import InputError, InputTypeError, TrainingInterrupted
from .layers import Dense, Dropout, check_architecture
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
    layers : list of Dense and Dropout, optional
        The layers, first to last; more can be appended with :meth:`add`. A :class:`Dropout`
        sits between two Dense layers.
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
        Seeds the initial weights, the shuffles and the dropout masks: the same seed gives the
        same weights on either backend. ``None`` draws fresh entropy.

    Attributes
    ----------
    optimizer : SGD, Adam, LBFGS or None
        The optimizer of the last :meth:`fit`, reused (with its momentum and update count) when
        ``fit`` is called again without one; :meth:`save` keeps it, with its state. An
        :class:`~fastnn.LBFGS` is never reused unasked: after an L-BFGS fit, ``fit`` needs
        ``optimizer=`` again.
    epochs_trained : int
        The epochs of SGD or Adam trained so far, over every ``fit``: the next epoch's number.
        :meth:`save` keeps it, so that a loaded model numbers its epochs on (and draws the
        dropout masks of those epochs).
    stop_training : bool
        A callback sets it to end ``fit`` after the current epoch (Keras's flag); each ``fit``
        starts with it False.
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
        self._dropout = []  # the rate of each Dense layer's output
        self._epochs_trained = 0
        self.stop_training = False  # a callback sets it to end fit after the current epoch
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
            if isinstance(layers, Dropout):
                raise InputTypeError(
                    "layers must be a list of Dense and Dropout layers; got a single Dropout"
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
        """tuple of Dense: the Dense layers (those with weights), first to last.

        Read-only: pass the layers to the constructor or append them with :meth:`add` before the
        model is built; the parameter buffer is laid out for exactly these layers, and
        :meth:`get_weights` gives one ``(W, b)`` for each. :attr:`stack` lists the
        :class:`Dropout` layers between them too.
        """
        return tuple(self._layers)

    @property
    def stack(self) -> tuple[Dense | Dropout, ...]:
        """tuple of Dense and Dropout: every layer as given, first to last."""
        stack = []
        for layer, rate in zip(self._layers, self._dropout):
            stack.append(layer)
            if rate > 0:
                stack.append(Dropout(rate))
        return tuple(stack)

    @property
    def epochs_trained(self) -> int:
        """int: the epochs of SGD or Adam trained so far (see the class's attributes)."""
        return self._epochs_trained

    @epochs_trained.setter
    def epochs_trained(self, value: int) -> None:
        self._epochs_trained = check_int(value, "epochs_trained", low=0)

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
        self._init_seq, self._shuffle_rng, self._dropout_seed = seed_streams(seed)

    def add(self, layer: Dense | Dropout) -> None:
        """Append a layer: a :class:`Dense` whose ``n_in`` equals the previous Dense layer's
        ``n_out``, or a :class:`Dropout` after a Dense layer (the model must not end with one)."""
        if not isinstance(layer, (Dense, Dropout)):
            raise InputTypeError(
                f"layer must be a fastnn.Dense or fastnn.Dropout; got {type(layer).__name__}"
            )
        if self._params is not None:
            raise InputError(
                "cannot add a layer to a model that is already built (trained, or "
                "given weights); start a new Sequential"
            )
        if isinstance(layer, Dropout):
            if not self._layers:
                raise InputError(
                    f"{layer!r} cannot be the first layer: dropout applies between Dense layers "
                    "(to the output of the Dense layer before it)"
                )
            if self._dropout[-1] > 0:
                raise InputError(
                    f"{layer!r} follows Dropout({self._dropout[-1]!r}): one Dropout between two "
                    "Dense layers (the masks of two would multiply: give one rate)"
                )
            self._dropout[-1] = layer.rate
            return
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
        self._dropout.append(0.0)
        layer._in_model = True

    def describe(self) -> str:
        """A one-line description: widths, activations, dropout, loss, parameters, dtype and
        backend, as ``fastnn train`` shows the model."""
        if not self.layers:
            return "Sequential(no layers)"
        widths = [str(self.layers[0].n_in)]
        for layer, rate in zip(self.layers, self._dropout):
            act = f" {layer.activation}" if layer.activation else ""
            drop = f" (dropout {rate:g})" if rate > 0 else ""
            widths.append(f"{layer.n_out}{act}{drop}")
        return (
            f"{' -> '.join(widths)} | loss {self.loss} | {self._n_params():,} parameters | "
            f"{self.dtype} | backend {self.backend}"
        )

    def summary(self, print_fn: Callable[[str], object] | None = print) -> str:
        """A table of the layers: name, output width and parameters, with the totals.

        Parameters
        ----------
        print_fn : callable or None, default print
            Called with the table's text; ``None`` prints nothing.

        Returns
        -------
        str
            The table.
        """
        if not self.layers:
            text = "Sequential(no layers)"
        else:
            rows, counts, width = [], {}, self.layers[0].n_in
            for layer in self.stack:
                kind = type(layer).__name__
                index = counts[kind] = counts.get(kind, -1) + 1
                name = kind.lower() + (f"_{index}" if index else "")
                if isinstance(layer, Dense):
                    width = layer.n_out
                    what = f"{name} (Dense, {layer.activation or 'linear'})"
                    rows.append((what, width, layer.n_in * layer.n_out + layer.n_out))
                else:
                    rows.append((f"{name} (Dropout {layer.rate:g})", width, 0))
            first = max(len("Layer"), *(len(row[0]) for row in rows))
            lines = [f"{'Layer':<{first}}  {'Output width':>12}  {'Parameters':>12}"]
            lines.append("-" * len(lines[0]))
            lines += [f"{what:<{first}}  {out:>12,}  {n:>12,}" for what, out, n in rows]
            lines.append("-" * len(lines[0]))
            lines.append(f"{'Total parameters':<{first}}  {'':>12}  {self._n_params():>12,}")
            lines.append(f"inputs {self.layers[0].n_in:,} | loss {self.loss} | {self.dtype} | "
                         f"backend {self.backend}")  # fmt: skip
            text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def _n_params(self):
        return sum(layer.n_in * layer.n_out + layer.n_out for layer in self.layers)

    def __getstate__(self):
        # The layers' views would be pickled as copies: keep the names and the one buffer, and
        # re-attach the views when unpickled.
        state = self.__dict__.copy()
        state["_layers"] = [Dense(**layer.to_config()) for layer in self._layers]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # a model pickled before dropout and epoch counts existed
        self.__dict__.setdefault("_dropout", [0.0] * len(self._layers))
        self.__dict__.setdefault("_epochs_trained", 0)
        self.__dict__.setdefault("stop_training", False)
        if "_dropout_seed" not in self.__dict__:
            self._dropout_seed = seed_streams(self._seed)[2]
        for layer in self._layers:
            layer._in_model = True
        if self._params is not None:
            params = aligned_zeros(self._params.size, self._params.dtype)
            params[...] = self._params
            self._params = params
            self._attach_layers()

    def __repr__(self):
        return (
            f"Sequential({list(self.stack)!r}, loss={self.loss!r}, backend={self.backend!r}, "
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
        if self._dropout[-1] > 0:
            raise InputError(
                f"the model ends with Dropout({self._dropout[-1]!r}): dropout applies between "
                "Dense layers; the last layer's output feeds the loss"
            )
        shapes = [(layer.n_in, layer.n_out) for layer in self.layers]
        activations = [self._kernel_activation(i) for i in range(len(self.layers))]
        layout, size = build_layout(shapes, activations, self.dtype)
        check_memory(size * np.dtype(self.dtype).itemsize, f"the parameters of {self.describe()}")
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

    def _dropout_plan(self):
        """The dropout a backend's training applies (a DropoutPlan), or None without any."""
        if not any(rate > 0 for rate in self._dropout):
            return None
        return DropoutPlan(np.array(self._dropout, np.float64), self._dropout_seed)

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

    def _build_and_check_X(self, X, name="X", finite=True):
        """Build the model if it is not yet built, then return ``X`` checked, standardised with
        :attr:`scaling` when there is one, and cast; with ``finite=False``, a dense ``X``
        without scaling is cast but its values are left unchecked (see :meth:`fit`)."""
        self._build()
        if self.scaling is None:
            return check_features(X, name, self.dtype, self.layers[0].n_in, sparse=True,
                                  finite=finite)  # fmt: skip
        if is_sparse(X):
            raise InputError(
                f"{name} is sparse, but this model standardises its inputs (its scaling), "
                "which would make every zero nonzero: pass a dense array, or scale the "
                "features yourself and set model.scaling = None"
            )
        raw = check_features(X, name, np.float64, self.layers[0].n_in)
        return check_features(self.scaling.features(raw, np.float64), name, self.dtype)

    def _check_xy(self, X, y, x_name="X", y_name="y", finite=True):
        """Checked (X, labels, targets); the loss that does not use one gets it empty.
        ``finite`` as :meth:`_build_and_check_X` takes it."""
        X = self._build_and_check_X(X, x_name, finite)
        n, n_out = X.shape[0], self.layers[-1].n_out
        if self.loss != "mse" or self.scaling is None:
            labels, targets = check_loss_targets(y, y_name, n, self.loss, n_out, self.dtype)
            return X, labels, targets
        raw = check_targets(y, y_name, n, n_out, np.float64)
        targets = check_targets(self.scaling.targets(raw, np.float64), y_name, n, n_out, self.dtype)
        return X, np.empty(0, np.int64), targets

    def _epoch_data(self, X, y, sample_weight=None, names=("X", "y", "sample_weight"),
                    finite=True):  # fmt: skip
        """The checked data as the record the backends take (weights empty when None);
        ``finite`` as :meth:`_build_and_check_X` takes it."""
        X, labels, targets = self._check_xy(X, y, *names[:2], finite)
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
        *,
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        class_weight: Mapping[int, float] | str | None = None,
        initial_epoch: int | None = None,
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
            The epochs to train (more epochs of a model trained before carry on its numbering,
            its optimizer and its shuffles; see ``initial_epoch``).
        batch_size : int, default 1
            1 updates after every sample; larger batches average the gradient over the batch
            (the last, shorter batch over its own size).
        optimizer : SGD, Adam or LBFGS, optional
            Defaults to the model's last SGD or Adam, else ``SGD()``. Its state (momentum or
            moments, update count, schedule) carries on when the same instance is passed again.
            :class:`~fastnn.LBFGS` trains on the full batch and ignores ``epochs``,
            ``batch_size`` and ``shuffle``; its history has one entry per iteration. It is
            never reused unasked: after an L-BFGS fit, a ``fit`` without ``optimizer=`` is an
            error, since it would run L-BFGS again, whatever ``epochs`` says.
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
        callbacks : list of fastnn.callbacks.Callback, optional
            Run between epochs, in order (see :mod:`fastnn.callbacks`): :class:`EarlyStopping
            <fastnn.EarlyStopping>`, :class:`ModelCheckpoint <fastnn.ModelCheckpoint>`,
            :class:`CSVLogger <fastnn.CSVLogger>`, :class:`LambdaCallback
            <fastnn.LambdaCallback>` or any subclass of Callback.
        validation_split : float, default 0.0
            A fraction in [0, 1) of the rows held out from training and evaluated after every
            epoch, as ``validation_data`` would be (0: none). The rows are those
            ``fastnn train --val-split`` holds out (:func:`fastnn.datasets.validation_rows`: a
            shuffled split with a fixed seed, stratified by class for classification), not the
            last rows as in Keras. Not with ``validation_data``.
        class_weight : dict of {label: weight} or "balanced", optional
            Classification only: each sample's weight is its class's weight (1 for a class the
            dict does not name), times its ``sample_weight`` when given. ``"balanced"`` gives
            class ``c`` the weight ``n_samples / (n_classes * count(c))`` over the training
            rows, as scikit-learn's ``compute_class_weight`` does.
        initial_epoch : int, optional
            As in Keras: train epochs ``initial_epoch`` to ``epochs - 1`` (``epochs -
            initial_epoch`` of them, none when ``epochs <= initial_epoch``), numbered so. The
            default, None, trains ``epochs`` epochs numbered on from :attr:`epochs_trained`.
            The numbers key the dropout masks and are what the callbacks and the history see.

        Returns
        -------
        History

        Raises
        ------
        ValueError
            On bad input, or when the training loss becomes NaN or infinite; then the
            parameters and optimizer state are restored to the start of that epoch (unless
            ``rollback=False``).
        NotImplementedError
            For dropout in mini-batches on the ``numba`` backend (per-sample training and the
            ``numpy`` backend apply it), before training starts.
        """
        # X's values are checked as the batch epoch copies its rows (every row once an epoch),
        # where the backend does so, instead of in a pass of their own first; else just below
        data = self._epoch_data(X, y, sample_weight, finite=False)
        check_inputs = self._finite_check(X, data.X)

        def check_now():  # the check the epochs would have made, made first
            nonlocal check_inputs
            if check_inputs is not None:
                check_inputs()
                check_inputs = None

        epochs = check_int(epochs, "epochs", low=0)
        batch_size = check_int(batch_size, "batch_size", low=1)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise InputTypeError(f"shuffle must be True or False; got {shuffle!r}")
        verbose = check_int(verbose, "verbose", low=0)
        workers = _check_workers(workers)
        validation = self._check_validation(validation_data)
        callbacks = _check_callbacks(callbacks)
        split = check_number(validation_split, "validation_split", low=0, high=1, high_open=True)
        if initial_epoch is not None:
            initial_epoch = check_int(initial_epoch, "initial_epoch", low=0)
        if split > 0:
            if validation is not None:
                raise InputError(
                    "give validation_data or validation_split, not both: validation_split="
                    f"{split} would hold out rows of X while validation_data is given"
                )
            check_now()  # the held-out rows are not trained on
            data, validation = self._split_validation(data, split)
        if class_weight is not None:
            data = data._replace(weights=self._class_weights(class_weight, data))
        if callbacks or isinstance(optimizer, LBFGS) or not (
                isinstance(rollback, (bool, np.bool_)) and rollback):  # fmt: skip
            # a callback acts on the training's start (a CSV log is emptied); L-BFGS has no
            # epochs; without rollback there is no copy of the weights to go back to
            check_now()
        previous_optimizer = self.optimizer
        optimizer = self._resolve_optimizer(optimizer)
        if isinstance(optimizer, LBFGS):  # full batch: epochs, batch_size, shuffle do not apply
            return self._fit_lbfgs(optimizer, data, verbose, callbacks, split, initial_epoch)
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
        drawn = {}  # the generator's state before the latest epoch's draw, to go back to

        def orders(epoch):
            drawn.update(epoch=epoch, state=rng.bit_generator.state)
            return rng.permutation(n) if shuffle else np.arange(n)

        def validate():
            return inference.evaluate(self, validation)

        first = self.epochs_trained if initial_epoch is None else initial_epoch
        end = first + epochs if initial_epoch is None else epochs
        schedule = adaptive_schedule(optimizer, validation is not None, verbose)
        callbacks = ([schedule] if schedule is not None else []) + callbacks
        params = self._history_params(epochs, first, batch_size, n, validation, verbose, optimizer)
        runner = EpochRunner(self, data, batch_size, optimizer, workers, verbose, bool(rollback),
                             check_inputs=check_inputs)  # fmt: skip
        try:
            with runner:
                runner.warm_up()  # load (or compile) the kernels first: epoch_time is training
                try:
                    return runner.run(end, orders, callbacks,
                                      None if validation is None else validate,
                                      initial_epoch=first, params=params)  # fmt: skip
                except TrainingInterrupted as exc:
                    _rewind_shuffles_on_rollback(exc, self, rng, drawn)
                    raise
        except InputError:
            if runner.refused_inputs:  # as if X had been refused before anything
                self.optimizer = previous_optimizer
                if drawn:
                    rng.bit_generator.state = drawn["state"]
            raise

    def _finite_check(self, X, cast):
        """The finite check of ``fit``'s ``X`` that :meth:`_epoch_data` left out (``cast``, the
        array it returned, unchecked where it is dense and the model has no scaling), as a
        function to call once: it refuses a NaN or infinity of ``cast`` with the message of
        :meth:`_build_and_check_X`; None where there is nothing left to check."""
        if not isinstance(cast, np.ndarray) or self.scaling is not None:
            return None

        def check():
            if not all_finite(cast):
                self._build_and_check_X(X)  # names the first bad value, and says why
                raise InputError("X contains NaN or infinity")  # not reached: it raised

        return check

    def _history_params(self, epochs, first, batch_size, n, validation, verbose, optimizer):
        """The history's ``params``: the fit's settings, and the keys its logs will have."""
        keys = ["loss", *(["accuracy"] if self.loss in CLASSIFICATION_LOSSES else [])]
        keys.append("epoch_time")
        if validation is not None:
            scores = ["loss", "accuracy"] if self.loss in CLASSIFICATION_LOSSES else [
                "loss", "mse", "r2"]  # fmt: skip
            keys += [f"val_{key}" for key in scores]
        return {
            "epochs": epochs,
            "initial_epoch": first,
            "steps": -(-n // min(batch_size, n)) if n else 0,
            "batch_size": batch_size,
            "samples": n,
            "validation_samples": 0 if validation is None else validation.X.shape[0],
            "verbose": verbose,
            "optimizer": optimizer.get_config(),
            "metrics": keys,
        }

    def _fit_lbfgs(self, optimizer, data, verbose, callbacks, split, initial_epoch):
        """``fit`` with L-BFGS: one full-batch minimisation, nothing of the epochs applies."""
        asked = {"callbacks": callbacks, "validation_split": split,
                 "initial_epoch": initial_epoch is not None}  # fmt: skip
        given = [name for name, value in asked.items() if value]
        if self._dropout_plan() is not None:
            given.append("a Dropout layer")
        if given:
            raise InputError(
                f"{given[0]} applies to the epochs of SGD and Adam; {optimizer!r} minimises the "
                "full-batch loss in one run, with no epochs"
            )
        history = optimizer.minimize(self, data, verbose)
        history.params = {"iterations": optimizer.max_iter, "batch_size": data.X.shape[0],
                          "samples": data.X.shape[0], "verbose": verbose,
                          "optimizer": optimizer.get_config(),
                          "metrics": ["loss", "epoch_time"]}  # fmt: skip
        return history

    def _resolve_optimizer(self, optimizer):
        """The optimizer of this fit: the one given, else the model's last SGD or Adam, else
        SGD(); never the last L-BFGS unasked."""
        if optimizer is None:
            if isinstance(self.optimizer, LBFGS):
                raise InputError(
                    f"this model's last fit used {self.optimizer!r}, which trains on the full "
                    "batch and ignores epochs and batch_size; pass optimizer= to say how to "
                    "train now: the same LBFGS to run it again, or fastnn.SGD() or fastnn.Adam() "
                    "for epochs"
                )
            optimizer = self.optimizer if self.optimizer is not None else optimizers.SGD()
        elif not isinstance(optimizer, (optimizers.Optimizer, LBFGS)):
            raise InputTypeError(
                "optimizer must be a fastnn optimizer (fastnn.SGD, fastnn.Adam or fastnn.LBFGS); "
                f"got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        return optimizer

    def _stratification(self, data):
        """Each training row's class (an int array), or None for regression and multilabel."""
        if self.loss == "softmax_cross_entropy":
            return data.labels
        if self.loss == "binary_cross_entropy" and data.targets.shape[1] == 1:
            return data.targets[:, 0].astype(np.int64)
        return None

    def _split_validation(self, data, fraction):
        """(training part, validation part) of checked data, in the order (and with the rows)
        of :func:`fastnn.datasets.validation_rows`, as ``fastnn train --val-split`` has them."""
        from .datasets.split import validation_rows

        train, held_out = validation_rows(data.X.shape[0], fraction, self._stratification(data))

        def rows(part):
            X, *others = data
            return EpochData(X[part], *(values[part] if len(values) else values
                                        for values in others))  # fmt: skip

        return rows(train), rows(held_out)

    def _class_weights(self, class_weight, data):
        """Each training row's weight: its class's weight, times its sample weight."""
        labels = self._stratification(data)
        if labels is None:
            raise InputError(
                f"class_weight applies to classification with one label per row; this model's "
                f"loss is {self.loss!r} with {self.layers[-1].n_out} output(s): use sample_weight"
            )
        n_classes = 2 if self.loss == "binary_cross_entropy" else self.layers[-1].n_out
        table = np.ones(n_classes)
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise InputError(
                    f"class_weight must be a dict of {{label: weight}} or 'balanced'; got "
                    f"{class_weight!r}"
                )
            present, counts = np.unique(labels, return_counts=True)
            table[present] = len(labels) / (len(present) * counts.astype(np.float64))
        elif isinstance(class_weight, Mapping):
            for label, weight in class_weight.items():
                if (not isinstance(label, numbers.Integral) or isinstance(label, bool)
                        or not 0 <= label < n_classes):  # fmt: skip
                    raise InputError(
                        f"class_weight names the label {label!r}; this model's labels are the "
                        f"integers 0 to {n_classes - 1}"
                    )
                table[int(label)] = check_number(weight, f"class_weight[{label!r}]", low=0)
        else:
            raise InputTypeError(
                "class_weight must be a dict of {label: weight} or 'balanced'; got "
                f"{type(class_weight).__name__}"
            )
        weights = table[labels]
        if len(data.weights):
            weights = weights * data.weights
        if not np.any(weights > 0):
            raise InputError("class_weight (times sample_weight) gives every training row the "
                             "weight 0: nothing would be learned")  # fmt: skip
        return weights.astype(self.dtype)

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
        :func:`numpy.savez` does. Returns the path written.

        The file also holds what training would continue from: :attr:`optimizer` (its kind,
        hyperparameters, state arrays, update count and schedule), :attr:`epochs_trained` and
        the state of the shuffle generator. So ``fastnn.load(path).fit(X, y, epochs=k)``
        continues the trajectory bit for bit, as if training had not stopped. It holds no
        pickled code. (:mod:`pickle` keeps all of this too.)
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


def _check_callbacks(callbacks):
    """``callbacks`` as a list, each a :class:`~fastnn.callbacks.Callback`."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise InputTypeError(
            f"callbacks must be a list of fastnn callbacks; got {type(callbacks).__name__}"
        )
    for index, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise InputTypeError(
                f"callbacks[{index}] must be a fastnn.callbacks.Callback (or a subclass); got "
                f"{type(callback).__name__}"
            )
    return list(callbacks)


def _rewind_shuffles_on_rollback(interrupted, model, rng, drawn):
    """Make ``interrupted.rollback()`` also put the shuffle generator back to before the draw
    of the epoch it cut short, so that training from there draws that epoch's order again (a
    model saved after the rollback resumes exactly)."""
    rollback = interrupted._rollback

    def both():
        rollback()
        if drawn and drawn["epoch"] >= model.epochs_trained:  # that epoch did not complete
            rng.bit_generator.state = drawn["state"]

    interrupted._rollback = both


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
