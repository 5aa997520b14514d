"""Layers. fastnn has one: the fully connected :class:`Dense`."""

from ._codes import ACTIVATIONS
from ._validation import check_choice, check_int, check_number
from .errors import InputError


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
    :attr:`W` and :attr:`b` are views into the model's single parameter buffer.
    """

    def __init__(self, n_in, n_out, activation=None, bias_init=0.0):
        self.n_in = check_int(n_in, "n_in", low=1)
        self.n_out = check_int(n_out, "n_out", low=1)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        if self.activation == "linear":
            self.activation = None
        self.bias_init = check_number(bias_init, "bias_init")
        self.W = None
        self.b = None

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation!r})"

    def to_config(self):
        """The layer as a JSON-ready dict (what :meth:`Sequential.save` stores)."""
        return {
            "n_in": self.n_in,
            "n_out": self.n_out,
            "activation": self.activation,
            "bias_init": self.bias_init,
        }


def dense_stack(widths, activation="relu"):
    """The layers of a multilayer perceptron of the given widths.

    Parameters
    ----------
    widths : sequence of int
        ``[n_in, hidden_1, ..., n_out]``, at least two.
    activation : {"relu", "sigmoid", "tanh", None}, default "relu"
        The hidden layers' activation. The last layer has none: its output feeds the loss
        (softmax cross-entropy and binary cross-entropy work from logits, MSE from values).

    Returns
    -------
    list of Dense
    """
    widths = [check_int(width, "widths", low=1) for width in widths]
    if len(widths) < 2:
        raise InputError(f"widths must hold at least the input and output widths; got {widths}")
    layers = [Dense(n_in, n_out, activation=activation) for n_in, n_out in
              zip(widths[:-2], widths[1:-1])]  # fmt: skip
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
