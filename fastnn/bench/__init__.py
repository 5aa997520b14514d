"""Epoch times of fastnn's backends side by side, and of PyTorch, JAX and scikit-learn.

One job, everywhere: one epoch on a dense ReLU network (softmax cross-entropy, float32) with
plain SGD or Adam, per sample (batch size 1) and in mini-batches (128), from the same initial
weights, then the test accuracy it reached. The data is MNIST's dense images (784-128-10 by
default) or synthetic bag-of-words documents as sparse CSR rows (100000-256-20 by default),
each peer taking them in its own sparse form. :func:`run` times it, :func:`format_report`
prints it, :func:`write_json` keeps every raw figure, and ``fastnn bench`` is the command
behind them.

The package: :mod:`.runner` (settings, rounds, rows), :mod:`.data` (the data kinds and their
defaults), :mod:`.jobs` (the job and fastnn's own implementation of it), :mod:`.peers`
(PyTorch, JAX, scikit-learn), :mod:`.report` (text and JSON) and :mod:`.machine` (what the
figures depend on).

What is timed, and what is not:

- Data loading, model construction (initial weights included), the JAX compilation and the
  accuracy evaluation are outside the timed region. fastnn's time is the whole ``fit`` call a
  user makes (its input checks included), scikit-learn's the whole ``partial_fit`` call (one
  epoch that knows every class), PyTorch's the training loop, JAX's the jitted epoch (or the
  loop over its jitted step) until its result is ready.
- Runs are interleaved: each round runs every implementation once, in turn (each round
  starting one implementation further along), so a change of load on the machine touches all
  of them alike. A first round, the warm-up (JIT compilation, lazy initialisation: a whole
  epoch on MNIST, the first 64 rows on bag-of-words, where a slow peer's epoch takes
  minutes), is excluded. The median and the minimum of the timed rounds are reported. Each
  run starts after an untimed pause of 0.3 s, so that threads the previous run's library left
  spinning (OpenBLAS's, for a tenth of a second or more after a product) do not take a core
  from it.
- Every implementation starts from the same initial weights, fastnn's (He normal for the ReLU
  layers, Glorot uniform for the output layer, zero biases, drawn from ``seed``), and fastnn,
  PyTorch and JAX visit the samples in the same shuffled order. On MNIST scikit-learn
  shuffles with its own generator (``random_state=seed``); bag-of-words rows come shuffled
  once, by the split, and every implementation, scikit-learn too, takes them in that order.
- Adam is the same rule in fastnn, JAX (written by hand) and scikit-learn: ``eps`` added to
  ``sqrt(v)``, the bias correction folded into the step. PyTorch's ``torch.optim.Adam`` adds
  ``eps`` after the bias correction, which differs while the update count is small; a note
  says so, and its accuracy, not its weights, is what compares. On sparse rows Adam is lazy
  Adam (only the first layer's rows of a batch's words step: fastnn's ``Adam(lazy=True)``,
  PyTorch's ``SparseAdam``, JAX by hand); scikit-learn has no lazy Adam, and a note says so.
- Slow per-sample jobs run on the first samples of the training set only (a slice). Nothing is
  scaled: each row reports the samples it trained on, and speed-ups are ratios of samples per
  second against fastnn's ``numba`` backend on the same samples, so a slice is compared with a
  slice.
"""

from .data import BagOfWords, Mnist
from .jobs import Job, epoch_order, initial_weights
from .machine import machine_info
from .report import format_report, write_json
from .runner import MAX_THREADS, MNIST_TRAIN, REGIMES, results, run, time_jobs

__all__ = [
    "MAX_THREADS",
    "MNIST_TRAIN",
    "REGIMES",
    "BagOfWords",
    "Job",
    "Mnist",
    "epoch_order",
    "format_report",
    "initial_weights",
    "machine_info",
    "results",
    "run",
    "time_jobs",
    "write_json",
]
