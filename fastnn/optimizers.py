"""Optimizers. fastnn has one: stochastic gradient descent, :class:`SGD`."""

import numpy as np

from ._validation import check_number
from .errors import InputTypeError


class SGD:
    """Stochastic gradient descent with momentum, Nesterov momentum, decay and L1/L2 penalties.

    For every update ``t = 0, 1, ...``::

        lr_t = lr / (1 + decay * t)
        g    = dL/dW + l1 * sign(W) + 2 * l2 * W      # penalties on weights, not biases
        v    = momentum * v - lr_t * g
        W   += v                                      # Nesterov: W += momentum * v - lr_t * g

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, > 0.
    momentum : float, default 0.0
        In [0, 1). With 0 no velocity is kept.
    nesterov : bool, default False
    decay : float, default 0.0
        Learning-rate decay per update, >= 0.
    l1, l2 : float, default 0.0
        Penalty strengths, >= 0.

    Attributes
    ----------
    iterations : int
        Updates made so far (the ``t`` above). It carries over from one ``fit`` to the next when
        the same optimizer is passed again.
    velocity : ndarray or None
        The momentum buffer, laid out like the model's parameters.
    """

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, decay=0.0, l1=0.0, l2=0.0):
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.momentum = check_number(momentum, "momentum", low=0, high=1, high_open=True)
        if not isinstance(nesterov, bool):
            raise InputTypeError(f"nesterov must be True or False; got {nesterov!r}")
        self.nesterov = nesterov
        self.decay = check_number(decay, "decay", low=0)
        self.l1 = check_number(l1, "l1", low=0)
        self.l2 = check_number(l2, "l2", low=0)
        self.iterations = 0
        self.velocity = None

    def __repr__(self):
        return (
            f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov}, "
            f"decay={self.decay}, l1={self.l1}, l2={self.l2})"
        )

    def learning_rate(self):
        """The learning rate of the next update, ``lr / (1 + decay * iterations)``."""
        return self.lr / (1.0 + self.decay * self.iterations)

    def _state_for(self, params):
        """The velocity buffer for ``params``, (re)started at zero when it does not fit them."""
        v = self.velocity
        if v is None or v.shape != params.shape or v.dtype != params.dtype:
            self.velocity = v = np.zeros_like(params)
        return v
