"""Optimizers: each owns its hyperparameters, its state and its learning-rate schedule.

An optimizer hands the backends one named record, :class:`OptimizerConfig`, and state arrays
that mirror the model's parameter buffer (one row per slot: SGD's velocity; Adam's two moments).
The update count ``t`` lives in a one-element array that the epoch kernels advance in place, so
it always matches the updates actually made, even when training is interrupted.

Adding an optimizer means: a ``kind`` code in :mod:`fastnn.kernels.codes`, its fields in
:class:`OptimizerConfig`, a class here that fills them, and one update kernel in each backend
(with its oracle in the tests).
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

import numpy as np

from ._validation import check_choice, check_int, check_number
from .callbacks import Plateau
from .errors import InputError, InputTypeError
from .kernels.codes import ADAM_KIND, SGD_KIND, is_plain_sgd, step_size
from .params import aligned_zeros

# Every optimizer's hyperparameters in one record; an optimizer leaves the fields it does not
# use at their defaults. Numbers are Python floats, so one compiled kernel serves them all.
OptimizerConfig = namedtuple(
    "OptimizerConfig", "kind lr momentum nesterov decay beta1 beta2 eps l1 l2 lazy"
)
_DEFAULTS = dict(
    momentum=0.0, nesterov=False, decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8, lazy=False
)


SCHEDULES = ("constant", "invscaling", "adaptive")
MIN_ADAPTIVE_LR = 1e-6  # the adaptive schedule stops once its rate has fallen this far


class Optimizer:
    """What every optimizer shares: the update count, the state buffer, the record, and the
    learning-rate schedule.

    Schedules, as scikit-learn's MLP defines them (the rate they set is ``current_lr``; SGD's
    per-update ``decay`` applies on top of it):

    - ``"constant"``: ``lr`` throughout.
    - ``"invscaling"``: at each epoch's end, ``lr / (samples + 1) ** power_t``, with ``samples``
      the samples trained on so far.
    - ``"adaptive"``: each time ``n_iter_no_change`` epochs in a row fail to improve the loss
      (or the validation score) by ``tol``, the rate is divided by 5; training stops when it
      has fallen to ``1e-6``.

    Attributes
    ----------
    iterations : int
        Updates made so far (``t``). It carries over from one ``fit`` to the next when the same
        optimizer is passed again.
    samples_seen : int
        Samples trained on so far (what ``"invscaling"`` counts).
    current_lr : float
        The rate the schedule sets now.
    state : ndarray of shape (n_slots, n_params) or None
        The optimizer's per-parameter state, laid out like the model's parameter buffer.
    plateau : fastnn.callbacks.Plateau
        The ``"adaptive"`` schedule's count of epochs without improvement, and the best loss
        so far: part of the schedule's state, it carries over from one ``fit`` to the next.
    """

    kind = None
    n_slots = 0
    lazy = False

    def __init__(
        self,
        lr: float,
        schedule: str = "constant",
        power_t: float = 0.5,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
    ) -> None:
        self.lr = check_number(lr, "lr", low=0, low_open=True)
        self.schedule = check_choice(schedule, "schedule", SCHEDULES)
        self.power_t = check_number(power_t, "power_t", low=0)
        self.n_iter_no_change = check_int(n_iter_no_change, "n_iter_no_change", low=1)
        self.tol = check_number(tol, "tol", low=0)
        self.current_lr = self.lr
        self.min_lr = MIN_ADAPTIVE_LR
        self.samples_seen = 0
        self._t = np.zeros(1, np.int64)
        self.state = None
        self.plateau = Plateau(self.tol)

    def iteration_ends(self, samples_seen: int) -> None:
        """The end of an epoch: ``"invscaling"`` sets the rate from the samples seen so far."""
        self.samples_seen = samples_seen
        if self.schedule == "invscaling":
            try:  # scikit-learn's expression, so that the estimators' rates match its own
                self.current_lr = self.lr / (samples_seen + 1) ** self.power_t
            except OverflowError:  # the divisor passes float64's range: the rate underflows
                ln_rate = math.log(self.lr) - self.power_t * math.log1p(samples_seen)
                self.current_lr = math.exp(ln_rate)  # 0.0, or a subnormal number

    def trigger_stopping(self) -> bool:
        """Training has stopped improving: True to stop. ``"adaptive"`` divides the rate by 5
        instead, until it has fallen to ``min_lr`` (1e-6)."""
        if self.schedule != "adaptive" or self.current_lr <= self.min_lr:
            return True
        self.current_lr /= 5.0
        return False

    @property
    def iterations(self) -> int:
        return int(self._t[0])

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._t[0] = value

    def config(self) -> OptimizerConfig:
        """The hyperparameters as the :class:`OptimizerConfig` record the kernels read (built
        again only when one of them has changed: it is asked for at every backend call)."""
        key = (self.current_lr, *(getattr(self, name) for name in self._fields))
        cached = self.__dict__.get("_config")
        if cached is not None and cached[0] == key:
            return cached[1]
        fields = dict(_DEFAULTS, kind=self.kind)
        fields.update({name: getattr(self, name) for name in self._fields})
        fields["lr"] = self.current_lr
        config = OptimizerConfig(**{k: _plain(v) for k, v in fields.items()})
        self._config = (key, config)
        return config

    def learning_rate(self) -> float:
        """The learning rate of the next update."""
        return step_size(self.config(), self.iterations)

    def get_config(self) -> dict[str, Any]:
        """The optimizer's name and constructor arguments, JSON-ready (its state excluded):
        ``type(opt)(**{k: v for k, v in opt.get_config().items() if k != "name"})`` makes a
        fresh optimizer with the same settings (see :func:`optimizer_from_config`)."""
        config = {"name": type(self).__name__}
        config.update({name: _plain(getattr(self, name)) for name in self._fields})
        config.update(schedule=self.schedule, power_t=self.power_t,
                      n_iter_no_change=self.n_iter_no_change, tol=self.tol)  # fmt: skip
        return config

    def state_for(self, params: np.ndarray) -> np.ndarray:
        """The state buffer for ``params``, (re)started at zero when it does not fit them."""
        state = self.state
        # an optimizer without state (plain SGD) gets one empty row: nothing to read or write
        shape = (max(self.n_slots, 1), params.shape[0] if self.n_slots else 0)
        if state is None or state.shape != shape or state.dtype != params.dtype:
            self.state = state = aligned_zeros(shape, params.dtype)
        return state

    def snapshot(self) -> tuple[np.ndarray | None, int, int, float]:
        """A copy of the state, the update count and the schedule's rate, for :meth:`restore`."""
        state = None if self.state is None else self.state.copy()
        return state, self.iterations, self.samples_seen, self.current_lr

    def restore(self, snapshot: tuple[np.ndarray | None, int, int, float]) -> None:
        """Put back what :meth:`snapshot` took."""
        state, self.iterations, self.samples_seen, self.current_lr = snapshot
        if state is not None:
            self.state[...] = state

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_config", None)  # the kernels' record is built anew, by this version's code
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "plateau" not in state:  # pickled before the schedule's counter was the optimizer's
            self.plateau = Plateau(self.tol)

    def __repr__(self):
        shown = [name for name in self._fields if name != "lazy" or self.lazy]  # lazy when set
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{type(self).__name__}({args})"


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def _check_lazy(lazy, l1, l2):
    """``lazy``, checked: a lazy step moves only some rows, so it cannot apply a penalty that
    moves every weight."""
    lazy = _check_bool(lazy, "lazy")
    if lazy and (l1 or l2):
        raise InputError(
            f"lazy=True steps only the rows of a batch's nonzero inputs and takes no l1/l2 "
            f"penalty (as PyTorch's SparseAdam); got l1={l1}, l2={l2}"
        )
    return lazy


def _plain(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


class SGD(Optimizer):
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
        In [0, 1]. With 0 no velocity is read or written.
    nesterov : bool, default False
    decay : float, default 0.0
        Learning-rate decay per update, >= 0.
    l1, l2 : float, default 0.0
        Penalty strengths, >= 0.
    lazy : bool, default False
        The lazy variant of momentum, a different algorithm: each step moves only the first
        layer's rows of the inputs that are nonzero in the batch, and only their velocity
        decays; the other rows wait untouched (the other layers step as usual). For sparse
        input (bag-of-words, one-hot tables) it makes a step cost what the batch touches
        rather than the whole first layer. Takes no ``l1``/``l2``. Without momentum plain SGD
        already moves only those rows, so ``lazy`` changes nothing.
    schedule : {"constant", "invscaling", "adaptive"}, default "constant"
        How the rate changes from epoch to epoch (see :class:`Optimizer`); ``lr`` above then
        stands for the schedule's current rate.
    power_t : float, default 0.5
        The exponent of ``"invscaling"``.
    n_iter_no_change : int, default 10
        ``"adaptive"``: epochs without improvement before the rate is divided by 5.
    tol : float, default 1e-4
        ``"adaptive"``: the improvement that counts.

    Attributes
    ----------
    iterations : int
        Updates made so far (the ``t`` above).
    current_lr : float
        The schedule's rate now.
    state : ndarray of shape (1, n_params) or None
        The velocity, laid out like the model's parameters (shape (1, 0) without momentum:
        plain SGD keeps no state).
    """

    kind = SGD_KIND
    _fields = ("lr", "momentum", "nesterov", "decay", "l1", "l2", "lazy")

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        decay: float = 0.0,
        l1: float = 0.0,
        l2: float = 0.0,
        *,
        lazy: bool = False,
        schedule: str = "constant",
        power_t: float = 0.5,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
    ) -> None:
        super().__init__(lr, schedule, power_t, n_iter_no_change, tol)
        self.momentum = check_number(momentum, "momentum", low=0, high=1)
        self.nesterov = _check_bool(nesterov, "nesterov")
        self.decay = check_number(decay, "decay", low=0)
        self.l1 = check_number(l1, "l1", low=0)
        self.l2 = check_number(l2, "l2", low=0)
        self.lazy = _check_lazy(lazy, self.l1, self.l2)

    @property
    def n_slots(self) -> int:
        """State rows: the velocity with momentum, none without."""
        return 1 if self.momentum else 0

    @property
    def velocity(self) -> np.ndarray | None:
        """The momentum buffer (the state's one row; empty without momentum), or None before
        training."""
        return None if self.state is None else self.state[0]


class Adam(Optimizer):
    """Adam, in the form scikit-learn and Keras use (Kingma & Ba's "efficient" form).

    For every update::

        t   += 1
        g    = dL/dW + l1 * sign(W) + 2 * l2 * W      # penalties on weights, not biases
        m    = beta1 * m + (1 - beta1) * g
        v    = beta2 * v + (1 - beta2) * g**2
        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        W   -= lr_t * m / (sqrt(v) + eps)

    ``eps`` is added to ``sqrt(v)`` after the bias correction has been folded into ``lr_t``;
    PyTorch's ``torch.optim.Adam`` adds it to ``sqrt(v / (1 - beta2**t))`` instead, which
    differs while ``t`` is small.

    Parameters
    ----------
    lr : float, default 0.001
        Learning rate, > 0.
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the first and second moments, in [0, 1).
    eps : float, default 1e-8
        Added to the root of the second moment, > 0.
    l1, l2 : float, default 0.0
        Penalty strengths, >= 0.
    lazy : bool, default False
        Lazy Adam, a different algorithm (PyTorch's ``SparseAdam``, TensorFlow Addons'
        ``LazyAdam``): each step updates the moments and the weights of only the first layer's
        rows of the inputs that are nonzero in the batch, with the bias correction of the
        global step count; the other rows and their moments wait untouched (the other layers
        step as usual). For sparse input it makes a step cost what the batch touches rather
        than the whole first layer. Takes no ``l1``/``l2``.
    schedule, power_t, n_iter_no_change, tol
        The learning-rate schedule, as for :class:`SGD`.

    Attributes
    ----------
    iterations : int
        Updates made so far (``t``).
    current_lr : float
        The schedule's rate now.
    state : ndarray of shape (2, n_params) or None
        The first and second moments ``m`` and ``v``, laid out like the model's parameters.
    """

    kind = ADAM_KIND
    n_slots = 2
    _fields = ("lr", "beta1", "beta2", "eps", "l1", "l2", "lazy")

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        l1: float = 0.0,
        l2: float = 0.0,
        *,
        lazy: bool = False,
        schedule: str = "constant",
        power_t: float = 0.5,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
    ) -> None:
        super().__init__(lr, schedule, power_t, n_iter_no_change, tol)
        self.beta1 = check_number(beta1, "beta1", low=0, high=1, high_open=True)
        self.beta2 = check_number(beta2, "beta2", low=0, high=1, high_open=True)
        self.eps = check_number(eps, "eps", low=0, low_open=True)
        self.l1 = check_number(l1, "l1", low=0)
        self.l2 = check_number(l2, "l2", low=0)
        self.lazy = _check_lazy(lazy, self.l1, self.l2)


def optimizer_from_config(config: dict[str, Any]) -> Optimizer:
    """A new optimizer from what :meth:`Optimizer.get_config` (or
    :meth:`fastnn.LBFGS.get_config`) returned; its arguments are checked as the constructor
    checks them, and an unknown name or argument is an error."""
    from .lbfgs import LBFGS  # lbfgs imports the training loop, which imports this module

    kinds = {"SGD": SGD, "Adam": Adam, "LBFGS": LBFGS}
    if not isinstance(config, dict):
        raise InputTypeError(f"an optimizer's config must be a dict; got {type(config).__name__}")
    name = config.get("name")
    if name not in kinds:
        raise InputError(f"the optimizer's name must be one of {sorted(kinds)}; got {name!r:.40}")
    arguments = {key: value for key, value in config.items() if key != "name"}
    try:
        return kinds[name](**arguments)
    except TypeError as exc:
        raise InputTypeError(f"{name}: {exc}") from None


__all__ = [
    "Adam",
    "SGD",
    "Optimizer",
    "OptimizerConfig",
    "is_plain_sgd",
    "optimizer_from_config",
    "step_size",
]
