"""L-BFGS: full-batch training with SciPy's L-BFGS-B over the flat parameter buffer.

Each evaluation runs the backend's ``full_batch_gradient`` (compiled on the ``numba`` backend,
the numpy twin on the other) over the whole data set; the L2 term is added here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from . import inference
from ._validation import check_int, check_number
from .errors import InputError
from .params import layer_views
from .training import History

if TYPE_CHECKING:
    from ._codes import EpochData
    from .model import Sequential

CHUNK_ROWS = 4096  # rows per pass through the network: bounded work buffers


class LBFGS:
    """Full-batch L-BFGS (SciPy's ``L-BFGS-B``), as scikit-learn's MLP ``solver="lbfgs"``.

    Pass it to :meth:`fastnn.Sequential.fit`, which then ignores ``epochs``, ``batch_size`` and
    ``shuffle``: one call minimises the (weighted) mean loss over all samples plus
    ``l2 * sum(W**2)`` (divided by the weight sum when there are sample weights).

    The loss is the exact one, computed from the logits, so that its value and its gradient
    agree for any logit, as the line search assumes. scikit-learn's MLP clips the predicted
    probabilities to ``[eps, 1 - eps]`` in the value only (a confidently wrong prediction then
    costs at most ``-log(eps)``, while the gradient stays the exact one); the estimators of
    :mod:`fastnn.sklearn` reproduce that objective to give scikit-learn's numbers.

    Parameters
    ----------
    max_iter : int, default 200
        The most L-BFGS iterations.
    tol : float, default 1e-4
        Stop when the largest gradient component falls below it (SciPy's ``gtol``).
    max_fun : int, default 15000
        The most loss evaluations.
    l2 : float, default 0.0
        L2 penalty strength, >= 0 (weights only, not biases).
    l1 : float, default 0.0
        Must be 0: the L1 term has no gradient at 0, which L-BFGS needs. Use SGD or Adam.

    Attributes
    ----------
    n_iter_ : int
        Iterations of the last run.
    result_ : scipy.optimize.OptimizeResult
        What SciPy returned, with ``.fun`` the final loss and ``.message`` why it stopped.
    """

    def __init__(
        self,
        max_iter: int = 200,
        tol: float = 1e-4,
        max_fun: int = 15000,
        l2: float = 0.0,
        l1: float = 0.0,
    ) -> None:
        self.max_iter = check_int(max_iter, "max_iter", low=1)
        self.tol = check_number(tol, "tol", low=0)
        self.max_fun = check_int(max_fun, "max_fun", low=1)
        self.l2 = check_number(l2, "l2", low=0)
        if check_number(l1, "l1", low=0) != 0:
            raise InputError(
                f"l1 must be 0 with LBFGS; got {l1!r}: the L1 penalty has no gradient at 0, which "
                "L-BFGS needs. Use fastnn.SGD or fastnn.Adam for an L1 penalty"
            )
        self.l1 = 0.0
        self.n_iter_ = 0
        self.result_ = None

    def __repr__(self):
        return (
            f"LBFGS(max_iter={self.max_iter}, tol={self.tol}, max_fun={self.max_fun}, l2={self.l2})"
        )

    def get_config(self) -> dict[str, Any]:
        """The name and constructor arguments, JSON-ready (as :meth:`fastnn.SGD.get_config`)."""
        return {"name": "LBFGS", "max_iter": self.max_iter, "tol": self.tol,
                "max_fun": self.max_fun, "l2": self.l2}  # fmt: skip

    def minimize(
        self,
        model: Sequential,
        data: EpochData,
        verbose: int = 0,
        value: Callable[[np.ndarray], float] | None = None,
        grad_scale: float = 1.0,
    ) -> History:
        """Train ``model`` (built) on ``data`` (an EpochData record); return a History with one
        entry per iteration.

        ``value`` and ``grad_scale`` define another objective (the scikit-learn estimators'):
        ``value(outputs)`` is its data term, from the last layer's outputs over every row, and
        its gradient is ``grad_scale`` times the backend's; the L2 term is added to both.
        """
        objective = _Objective(model, data, self.l2, value, grad_scale)
        history = History()
        started = [time.perf_counter()]

        def iteration_done(intermediate_result):
            now = time.perf_counter()
            logs = {"loss": float(intermediate_result.fun), "epoch_time": now - started[0]}
            history._append(len(history.epoch), logs)
            started[0] = now
            if verbose:
                print(f"iteration {len(history.epoch)} - loss {logs['loss']:.6f}", flush=True)

        import scipy.optimize  # imported here: it is slow to import, and few fits need it

        result = scipy.optimize.minimize(
            objective, model._params.astype(np.float64), method="L-BFGS-B", jac=True,
            callback=iteration_done,
            options={"maxiter": self.max_iter, "maxfun": self.max_fun, "gtol": self.tol},
        )  # fmt: skip
        model._params[...] = result.x
        self.n_iter_ = int(result.nit)
        self.result_ = result
        return history


class _Objective:
    """The loss and gradient at a point, as SciPy asks for them (float64 vectors).

    The data term is the backend's loss, or ``value(outputs)`` when ``value`` is given (one more
    forward pass); the gradient is the backend's times ``grad_scale``.
    """

    def __init__(self, model, data, l2, value=None, grad_scale=1.0):
        self.model, self.data, self.l2 = model, data, l2
        self.value, self.grad_scale = value, grad_scale
        self.grads = np.zeros_like(model._params)
        self.mask = np.zeros(model._params.shape, bool)  # the weights (not biases, not padding)
        for layer in range(len(model.layers)):
            W, _ = layer_views(self.mask, model._layout, layer)
            W[...] = True
        weights = data.weights
        self.weight_sum = float(np.sum(weights, dtype=np.float64)) if len(weights) else 1.0

    def __call__(self, x):
        m = self.model
        m._params[...] = x
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = m._ops.full_batch_gradient(m._params, m._layout, self.data, m._loss_code,
                                              CHUNK_ROWS, self.grads)  # fmt: skip
            if self.value is not None:
                loss = float(self.value(inference.outputs(m, self.data.X, warn=False)))
        grad = self.grads.astype(np.float64)
        if self.grad_scale != 1:
            grad *= self.grad_scale
        W = m._params[self.mask].astype(np.float64)
        loss += self.l2 * float(W @ W) / self.weight_sum  # l2 sum(W^2), over the weight sum
        grad[self.mask] += (2 * self.l2 / self.weight_sum) * W
        return loss, grad


__all__ = ["LBFGS"]
