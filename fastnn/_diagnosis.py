"""Why a training loss became NaN or infinite: the message :meth:`fastnn.Sequential.fit`
raises names the first cause the data and the settings show (targets, inputs, sample weights,
the penalty, the learning rate). Every comparison is made between natural logarithms, so that
no quantity looked at can overflow while it is looked at."""

import math

import numpy as np

from ._codes import SGD_KIND

# What the diagnosis takes for "large".
_LN_F64_MAX = math.log(float(np.finfo(np.float64).max))
_LN_HEADROOM = math.log(1e3)  # a weighted loss or gradient this large must still fit the dtype
_LARGE_INPUT = 100.0  # standardised features seldom pass this; raw pixels (255), prices do
_LARGE_TARGET = 1e3  # likewise for regression targets
_STANDARDISE = "standardise them (see fastnn.scaling.Scaling)"


def _ln(value):
    """``ln(value)`` for ``value >= 0``; minus infinity for 0."""
    return math.log(value) if value > 0 else -math.inf


def _shown(ln_value):
    """``exp(ln_value)`` written as ``%.3g`` would write it, also beyond float64's range."""
    if ln_value < _LN_F64_MAX:
        return f"{math.exp(ln_value):.3g}"
    exponent = math.floor(ln_value / math.log(10))
    return f"{10 ** (ln_value / math.log(10) - exponent):.3g}e+{exponent}"


def _one_minus(ln_value):
    """``1 - exp(ln_value)`` written with three digits, also beyond float64's range."""
    if ln_value < _LN_F64_MAX:
        return f"{1 - math.exp(ln_value):.3g}"
    return f"-{_shown(ln_value)}"


def _largest(arr):
    """The largest ``|value|`` of a finite array (0 when empty), without a copy of it."""
    if arr.size == 0:
        return 0.0
    return max(abs(float(arr.max())), abs(float(arr.min())))


def _ln_largest_row_norm2(X, largest):
    """``ln`` of the largest squared norm of a row of ``X`` (dense or CSR) whose entries are at
    most ``largest`` in magnitude; rows are divided by ``largest`` first, so nothing overflows."""
    if largest == 0:
        return -math.inf
    if isinstance(X, np.ndarray):
        top = 0.0
        for first in range(0, X.shape[0], 4096):  # float64 copies of a few MiB at a time
            rows = X[first : first + 4096].astype(np.float64) / largest
            top = max(top, float(np.einsum("ij,ij->i", rows, rows).max()))
    else:
        sums = np.concatenate(([0.0], np.cumsum((X.data.astype(np.float64) / largest) ** 2)))
        top = float((sums[X.indptr[1:]] - sums[X.indptr[:-1]]).max())
    return 2 * math.log(largest) + _ln(top)


def divergence_cause(model, data, optimizer, batch_size):
    """Why an epoch's loss became NaN or infinite, as the end of a sentence: the first of the
    causes below that the data and the settings show, else the learning rate.

    1. Overflow whatever the rate: squared MSE targets, squared inputs, or sample weights so
       large that a weighted loss overflows.
    2. An SGD update that the L1/L2 penalty alone makes unstable (``2 lr l2 > 2 (1 +
       momentum)``, or an L1 step larger than the weights), further beyond stability than the
       data's own step ``lr |x|^2`` (``x`` the longest input row); else an L1/L2 gradient
       beyond the dtype's range (any optimizer).
    3. Unstandardised inputs, when they make the data's step unstable (SGD) and standardised
       ones would not; else the learning rate, with a hint when the inputs or the regression
       targets are large.
    """
    dtype = np.dtype(model.dtype)
    ln_max = math.log(float(np.finfo(dtype).max))
    wider = " or use dtype='float64'" if dtype == np.float32 else ""
    y = _largest(data.targets) if model.loss == "mse" else 0.0
    if y:  # each sample's loss sums k squares in the dtype; the epoch sums n in float64
        if 2 * _ln(y) > ln_max - math.log(data.targets.shape[1]):
            return (f": the squared targets overflow {dtype} (|y| up to {y:.3g}): "
                    f"{_STANDARDISE}{wider}.")  # fmt: skip
        if 2 * _ln(y) > _LN_F64_MAX - math.log(data.targets.shape[0]):
            return (f": the squared targets overflow the float64 sum of the epoch's loss (|y| "
                    f"up to {y:.3g}): {_STANDARDISE}.")  # fmt: skip
    x = _largest(data.X if isinstance(data.X, np.ndarray) else data.X.data)
    if 2 * _ln(x) > ln_max:
        return (f": the inputs are too large for {dtype} (|X| up to {x:.3g}; their squares "
                f"overflow): {_STANDARDISE}{wider}.")  # fmt: skip
    penalty = _Penalty(model, data, optimizer, batch_size)
    if penalty.ln_weight_sum + _LN_HEADROOM > ln_max:
        return (f": the sample weights sum to {_shown(penalty.ln_weight_sum)}, so weighted "
                f"losses and gradients overflow {dtype}: divide them by their mean (the "
                "gradient depends only on their ratios).")  # fmt: skip
    rate = optimizer.current_lr
    ln_data_step = math.inf  # Adam's steps are about lr whatever the gradient
    if optimizer.kind == SGD_KIND:
        ln_data_step = _ln(rate) + _ln_largest_row_norm2(data.X, x)
        unstable = penalty.unstable(rate, optimizer.momentum, ln_data_step)
        if unstable:
            return unstable
    overflow = penalty.overflow(ln_max, dtype)
    if overflow:
        return overflow
    # the step standardised inputs would take (|x|^2 about n_features): is the rate to blame?
    ln_standard_step = _ln(rate)
    if optimizer.kind == SGD_KIND:
        ln_standard_step += math.log(data.X.shape[1])
    if x > _LARGE_INPUT and ln_data_step > 0 and ln_standard_step <= 0:
        reach = "" if ln_data_step == math.inf else f", so lr*|x|^2 reaches {_shown(ln_data_step)}"
        return (f": the inputs are large (|X| up to {x:.3g}{reach} with lr={rate:g}): "
                f"{_STANDARDISE} or try a smaller learning rate.")  # fmt: skip
    large = [f"targets (|y| up to {y:.3g}"] if y > _LARGE_TARGET else []
    large += [f"inputs (|X| up to {x:.3g}"] if x > _LARGE_INPUT else []
    also = ""
    if large:
        also = f", and standardise the {') and the '.join(large)}; see fastnn.scaling.Scaling)"
    return (f" with lr={optimizer.lr}: the learning rate is probably too large, try a smaller "
            f"one{also}.")  # fmt: skip


class _Penalty:
    """An optimizer's L1 and L2 terms as an epoch applies them, in logarithms: with sample
    weights, a batch's terms are divided by its weight sum (at least ``m`` times the smallest
    positive weight, for batches of ``m``)."""

    def __init__(self, model, data, optimizer, batch_size):
        self.l1, self.l2 = getattr(optimizer, "l1", 0.0), getattr(optimizer, "l2", 0.0)
        weights, m = data.weights, min(batch_size, data.X.shape[0])
        self.ln_weight_sum, ln_scale, self.per, self.weights = -math.inf, 0.0, "", ""
        if len(weights):
            heaviest, lightest = _largest(weights), float(weights[weights > 0].min())
            self.ln_weight_sum = math.log(heaviest) + math.log(np.sum(weights / heaviest))
            ln_scale = -math.log(m * lightest)
            if m == 1:
                self.per, self.weights = "/w", f" and sample weights w down to {lightest:.3g}"
            else:
                self.per, self.weights = "/W", f" and batch weight sums W from {m * lightest:.3g}"
        self.ln_c1 = _ln(self.l1) + ln_scale  # the L1 gradient's size
        self.ln_c2 = _ln(2 * self.l2) + ln_scale  # the L2 gradient's factor on the weights
        self.largest_weight = max(_largest(layer.W[np.isfinite(layer.W)]) for layer in model.layers)

    def unstable(self, rate, momentum, ln_data_step):
        """The message when SGD's penalty alone makes every update grow the weights, further
        beyond stability than the data's step; else None."""
        ln_rate = _ln(rate)
        ln_l2 = ln_rate + self.ln_c2 - math.log(2 * (1 + momentum))
        ln_l1 = ln_rate + self.ln_c1 - _ln(max(self.largest_weight, 1.0))
        if max(ln_l1, ln_l2) <= max(0.0, ln_data_step):
            return None
        if ln_l2 >= ln_l1:
            return (f": the L2 penalty is too large for the learning rate: each update multiplies "
                    f"the weights by about {_one_minus(ln_rate + self.ln_c2)} (1 - 2*lr*l2"
                    f"{self.per} with lr={rate:g}, l2={self.l2:g}{self.weights}), so they grow "
                    "without bound: use a smaller l2.")  # fmt: skip
        return (f": the L1 penalty is too large for the learning rate: each update moves every "
                f"weight by {_shown(ln_rate + self.ln_c1)} (lr*l1{self.per} with lr={rate:g}, "
                f"l1={self.l1:g}{self.weights}), more than the weights' size (up to "
                f"{self.largest_weight:.3g}): use a smaller l1.")  # fmt: skip

    def overflow(self, ln_max, dtype):
        """The message when the penalty's gradient overflows ``dtype``; else None."""
        if self.ln_c2 > ln_max or self.ln_c2 + _ln(self.largest_weight) > ln_max:
            return (f": the L2 penalty's gradient 2*l2{self.per}*W overflows {dtype} (l2="
                    f"{self.l2:g}{self.weights}, weights up to {self.largest_weight:.3g}): use a "
                    "smaller l2.")  # fmt: skip
        if self.ln_c1 > ln_max:
            return (f": the L1 penalty's gradient l1{self.per} overflows {dtype} (l1={self.l1:g}"
                    f"{self.weights}): use a smaller l1.")  # fmt: skip
        return None
