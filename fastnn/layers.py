"""Layers: the fully connected :class:`Dense`, and :class:`Dropout` between two of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._codes import ACTIVATIONS
from ._validation import as_array, check_cast, check_choice, check_int, check_number
from .errors import InputError


def check_parameter(value, name, shape, dtype):
    """Return ``value`` as a finite array of ``shape`` cast to ``dtype``, ready to be copied
    into a model's parameter buffer; ``name`` is the attribute it is assigned to."""
    if value is None:
        raise InputError(f"{name} must be an array of shape {shape}; got None")
    arr = as_array(value, name)
    if arr.shape != shape:
        raise InputError(f"{name} must have shape {shape}; got shape {arr.shape}")
    return check_cast(arr, dtype, name, copy=True)  # a copy: value may view other parameters


def _fixed(name, doc, owner="Dense"):
    """A read-only property for a setting the model is built from."""

    def get(self):
        return getattr(self, f"_{name}")

    def refuse(self, value):
        raise AttributeError(
            f"{owner}.{name} is fixed when the layer is created; got {value!r}: create a new "
            f"{owner} with the settings you want"
        )

    return property(get, refuse, doc=doc)


class Dense:
    """A fully connected layer: ``z = x @ W + b``, ``a = activation(z)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths. ``W`` has shape ``(n_in, n_out)`` (rows indexed by input),
        ``b`` has shape ``(n_out,)``.
    activation : {"relu", "sigmoid", "tanh", None}, default None
        ``None`` (or ``"linear"``) leaves ``z`` as it is, as a final layer that feeds a loss does.
    bias_init : float, default 0.0
        The value every bias starts at.

    Notes
    -----
    A layer owns no memory of its own: once it belongs to a built :class:`~fastnn.Sequential`,
    :attr:`W` and :attr:`b` are views into the model's single parameter buffer, and assigning
    them copies into that buffer, so training, inference and saving always see the same
    numbers. Before the model is built they are ``None`` and cannot be assigned; give initial
    weights with :meth:`Sequential.set_weights`, which builds the model.

    ``n_in``, ``n_out`` and ``activation`` are fixed when the layer is created, and a layer
    belongs to one model only. A copy of a layer (:func:`copy.copy`, :mod:`pickle`) is a new
    layer with the same settings and no weights, free to join another model.
    """

    n_in = _fixed("n_in", "int: the input width.")
    n_out = _fixed("n_out", "int: the output width.")
    activation = _fixed("activation", 'str or None: "relu", "sigmoid", "tanh" or None.')

    def __init__(
        self, n_in: int, n_out: int, activation: str | None = None, bias_init: float = 0.0
    ) -> None:
        self._n_in = check_int(n_in, "n_in", low=1)
        self._n_out = check_int(n_out, "n_out", low=1)
        activation = check_choice(activation, "activation", ACTIVATIONS)
        self._activation = None if activation == "linear" else activation
        self.bias_init = check_number(bias_init, "bias_init")
        self._W = None
        self._b = None
        self._in_model = False  # set by the Sequential the layer joins

    @property
    def W(self) -> np.ndarray | None:
        """ndarray of shape (n_in, n_out), or None before the model is built.

        A view into the model's parameters: writing into it (``layer.W[...] = x``) changes the
        model. Assigning (``layer.W = x``) copies ``x`` into the same place after checking its
        shape and values, cast to the model's dtype.
        """
        return None if self._W is None else self._W.view()

    @W.setter
    def W(self, value: ArrayLike) -> None:
        self._copy_in(self._W, value, "W")

    @property
    def b(self) -> np.ndarray | None:
        """ndarray of shape (n_out,), or None before the model is built; see :attr:`W`."""
        return None if self._b is None else self._b.view()

    @b.setter
    def b(self, value: ArrayLike) -> None:
        self._copy_in(self._b, value, "b")

    def _copy_in(self, view, value, name):
        if view is None:
            raise InputError(
                f"Dense.{name} cannot be assigned before the layer belongs to a built model "
                f"(got {type(value).__name__}): the weights live in the model's parameters; "
                "give initial weights with model.set_weights([(W, b), ...]), which builds it"
            )
        view[...] = check_parameter(value, f"Dense.{name}", view.shape, view.dtype)

    def _attach(self, W, b):
        """Make ``W`` and ``b`` the layer's views into its model's parameter buffer."""
        self._W, self._b = W, b

    def __reduce__(self):
        # A copy is a new layer: the views belong to the original's model.
        return type(self), (self.n_in, self.n_out, self.activation, self.bias_init)

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"

    def to_config(self) -> dict[str, Any]:
        """The layer as a JSON-ready dict (what :meth:`Sequential.save` stores)."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation,
            "bias_init": self.bias_init,
        }


class Dropout:
    """Inverted dropout between two :class:`Dense` layers.

    In training, each unit of the previous layer's output is dropped (set to 0) with
    probability ``rate`` and the units kept are scaled by ``1 / (1 - rate)``, so that the
    expected output is unchanged; :meth:`~fastnn.Sequential.predict` and
    :meth:`~fastnn.Sequential.evaluate` pass the output through unchanged.

    The masks come from a counter-based generator keyed by the model's seed, the epoch, the
    sample's index in the training data, the layer and the unit (see
    :mod:`fastnn.kernels.dropout`): both backends draw the same masks, whatever the batch size,
    the order of the samples or the number of threads, so a fixed seed trains alike on either.

    Parameters
    ----------
    rate : float
        The fraction of units dropped, in [0, 1). 0 keeps every unit.

    Notes
    -----
    A Dropout sits between two Dense layers of a :class:`~fastnn.Sequential` (not first, not
    last, not two in a row). It has no weights: :attr:`Sequential.layers
    <fastnn.Sequential.layers>` lists the Dense layers, :attr:`Sequential.stack
    <fastnn.Sequential.stack>` every layer. The numba backend applies dropout in per-sample
    training (``batch_size=1``); in mini-batches it raises NotImplementedError, and the numpy
    backend trains mini-batches with dropout.
    """

    rate = _fixed("rate", "float: the fraction of units dropped, in [0, 1).", "Dropout")

    def __init__(self, rate: float) -> None:
        self._rate = check_number(rate, "Dropout rate", low=0, high=1, high_open=True)

    def __repr__(self):
        return f"Dropout({self.rate!r})"

    def __reduce__(self):
        return type(self), (self.rate,)


def dense_stack(
    widths: Iterable[int], activation: str | None = "relu", dropout: float = 0.0
) -> list[Dense | Dropout]:
    """The layers of a multilayer perceptron of the given widths.

    Parameters
    ----------
    widths : sequence of int
        ``[n_in, hidden_1, ..., n_out]``, at least two.
    activation : {"relu", "sigmoid", "tanh", None}, default "relu"
        The hidden layers' activation. The last layer has none: its output feeds the loss
        (softmax cross-entropy and binary cross-entropy work from logits, MSE from values).
    dropout : float, default 0.0
        When above 0, a :class:`Dropout` of this rate after every hidden layer.

    Returns
    -------
    list of Dense and Dropout
    """
    widths = [check_int(width, "widths", low=1) for width in widths]
    if len(widths) < 2:
        raise InputError(f"widths must hold at least the input and output widths; got {widths}")
    rate = check_number(dropout, "dropout", low=0, high=1, high_open=True)
    layers = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1]):
        layers.append(Dense(n_in, n_out, activation=activation))
        if rate > 0:
            layers.append(Dropout(rate))
    layers.append(Dense(widths[-2], widths[-1]))
    return layers


def check_architecture(layers, loss):
    """Refuse, in one line, a stack of layers that cannot feed ``loss``."""
    if not layers:
        raise InputError(
            "the model has no layers: pass a list of Dense to Sequential or call add()"
        )
    last = layers[-1]
    if loss == "binary_cross_entropy" and last.activation not in (None, "sigmoid"):
        raise InputError(
            "binary_cross_entropy needs output units with activation None or 'sigmoid' (one per "
            f"label); the last layer is {last!r}"
        )
    if loss == "poisson" and last.activation is not None:
        raise InputError(
            "poisson needs a linear last layer (activation None): the model predicts "
            f"exp(output); the last layer is {last!r}"
        )
    if loss == "softmax_cross_entropy" and last.n_out < 2:
        raise InputError(
            "softmax_cross_entropy needs at least 2 output units (one per class); the last layer "
            f"is {last!r}"
        )
