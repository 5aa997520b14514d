"""Epoch times of fastnn's backends side by side, and of PyTorch, JAX and scikit-learn.

One job, everywhere: one epoch of MNIST on a dense ReLU network (784-128-10 by default, any
hidden widths on request; softmax cross-entropy, float32) with plain SGD or Adam, per sample
(batch size 1) and in mini-batches (128), from the same initial weights, then the test accuracy
it reached. :func:`run` times it, :func:`format_report` prints
it, :func:`write_json` keeps every raw figure, and ``fastnn bench`` is the command behind them.

The package: :mod:`.runner` (settings, rounds, rows), :mod:`.jobs` (the job and fastnn's own
implementation of it), :mod:`.peers` (PyTorch, JAX, scikit-learn), :mod:`.report` (text and
JSON) and :mod:`.machine` (what the figures depend on).

What is timed, and what is not:

- Data loading, model construction (initial weights included), the JAX compilation and the
  accuracy evaluation are outside the timed region. fastnn's time is the whole ``fit`` call a
  user makes (its input checks included), scikit-learn's the whole ``fit`` call, PyTorch's the
  training loop, JAX's the jitted epoch until its result is ready.
- Runs are interleaved: each round runs every implementation once, in turn, so a change of
  load on the machine touches all of them alike. A first round, the warm-up (JIT compilation,
  lazy initialisation), is excluded. The median and the minimum of the timed rounds are
  reported.
- Every implementation starts from the same initial weights, fastnn's (He normal for the ReLU
  layers, Glorot uniform for the output layer, zero biases, drawn from ``seed``), and fastnn,
  PyTorch and JAX visit the samples in the same shuffled order. scikit-learn shuffles with its
  own generator (``random_state=seed``).
- Adam is the same rule in fastnn, JAX (written by hand) and scikit-learn: ``eps`` added to
  ``sqrt(v)``, the bias correction folded into the step. PyTorch's ``torch.optim.Adam`` adds
  ``eps`` after the bias correction, which differs while the update count is small; a note
  says so, and its accuracy, not its weights, is what compares.
- Slow per-sample jobs run on the first samples of the training set only (a slice). Nothing is
  scaled: each row reports the samples it trained on, and speed-ups are ratios of samples per
  second against fastnn's ``numba`` backend on the same samples, so a slice is compared with a
  slice.
"""

from .jobs import Job, epoch_order, initial_weights
from .machine import machine_info
from .report import format_report, write_json
from .runner import MAX_THREADS, MNIST_TRAIN, REGIMES, run

__all__ = [
    "MAX_THREADS",
    "MNIST_TRAIN",
    "REGIMES",
    "Job",
    "epoch_order",
    "format_report",
    "initial_weights",
    "machine_info",
    "run",
    "write_json",
]
