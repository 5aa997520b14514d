"""``fastnn bench``: epoch times of the backends side by side (and of the peers), through
:mod:`fastnn.bench`, with every option checked first so that a mistake costs no timing run."""

import sys

from .._validation import check_memory
from .options import (
    BATCH_SIZE,
    HIDDEN,
    OPTIMIZER,
    QUIET,
    SEED,
    UsageError,
    at_least,
    at_most,
    output_file,
    positive_ints,
    widths,
)

DESCRIPTION = (
    "Time one epoch of MNIST (784-128-10 unless --hidden says otherwise, ReLU, softmax "
    "cross-entropy, float32, plain SGD or --optimizer adam) on fastnn's numba and numpy "
    "backends, per sample (batch size 1) and in mini-batches, and print per row: the network, "
    "seconds (median and min), samples per second, the test accuracy after the epoch and the "
    "speed-up of the numba backend. Runs are interleaved, one round over every implementation "
    "at a time, after a warm-up round that is not timed. Slow per-sample jobs train on a slice "
    "of the training set; the speed-up compares samples per second with the numba backend on "
    "the same samples. Everything starts from the same initial weights."
)
# learning rates unless --lr-per-sample or --lr-batch say otherwise (fastnn.bench.jobs)
DEFAULT_LRS = {"sgd": (0.01, 0.1), "adam": (0.0005, 0.001)}
# the implementations that may hold the network at once, each with its parameters, gradient,
# optimizer state and a copy or two (PyTorch, JAX, scikit-learn, fastnn's two backends)
_COPIES = 40


def add_options(parser):
    _add_timing_options(parser.add_argument_group("what is timed"))
    _add_job_options(parser.add_argument_group("the training job"))
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write every raw result to PATH as JSON: settings, per-run times and accuracies, "
        "machine (CPU, cores, load, library versions, BLAS threads, OPENBLAS_* and thread "
        "variables when set)",
    )
    QUIET.add(output, help="no progress lines on stderr (the report remains)")


def _add_timing_options(group):
    group.add_argument(
        "--peers",
        action="store_true",
        help="also time PyTorch, JAX and scikit-learn MLPClassifier, each when installed "
        '(pip install "fastnn[peers]"); a missing one is skipped with a note',
    )
    group.add_argument(
        "--regime",
        choices=("per-sample", "batch", "both"),
        default="both",
        help="per-sample SGD (batch size 1), mini-batch SGD, or both (default: both)",
    )
    group.add_argument(
        "--repeat", type=int, default=3, help="timed rounds after the warm-up (default: 3)"
    )
    group.add_argument(
        "--samples",
        type=int,
        default=60000,
        help="train on the first N training images (default: 60000, the whole epoch)",
    )
    group.add_argument(
        "--numpy-samples",
        type=int,
        default=None,
        metavar="N",
        help="per-sample regime: train fastnn's numpy backend on the first N images (default: "
        "--peer-samples)",
    )
    group.add_argument(
        "--peer-samples",
        type=int,
        default=6000,
        metavar="N",
        help="per-sample regime: train scikit-learn and PyTorch on the first N images "
        "(default: 6000); also the numpy backend's default",
    )


def _add_job_options(group):
    OPTIMIZER.add(
        group,
        choices=("sgd", "adam"),
        help="plain SGD (default), or Adam (beta1 0.9, beta2 0.999, eps 1e-8, added to sqrt(v) "
        "as in scikit-learn and Keras; JAX's epoch writes that rule by hand, PyTorch runs "
        "torch.optim.Adam, which adds eps after the bias correction)",
    )
    HIDDEN.add(
        group,
        help="hidden ReLU layer widths for every implementation, comma-separated: 128 (default), "
        "1024 or 256,256,256; an empty string for none",
    )
    BATCH_SIZE.add(
        group,
        default=128,
        help="the mini-batch regime's batch size, at most --samples (default: 128)",
    )
    for option, index, what in (("--lr-per-sample", 0, "per sample"),
                                ("--lr-batch", 1, "of the mini-batch regime")):  # fmt: skip
        sgd, adam = DEFAULT_LRS["sgd"][index], DEFAULT_LRS["adam"][index]
        group.add_argument(
            option,
            type=float,
            default=None,
            metavar="LR",
            help=f"learning rate {what} (default: {sgd} with sgd, {adam} with adam)",
        )
    group.add_argument(
        "--torch-threads",
        default="1,2",
        metavar="N[,N...]",
        help="torch.set_num_threads values to time, one row each, at most 1024 (default: 1,2)",
    )
    SEED.add(group, help="seed of the initial weights and shuffles (default: 0)")


def _thread_counts(text, most):
    counts = positive_ints(text, "--torch-threads", "thread counts", "1,2")
    for count in counts:
        at_most(count, "--torch-threads", most)
    return counts


def _check(args, bench):
    """Every option, named as the user wrote it; returns the torch thread counts."""
    at_least(args.repeat, "--repeat", 1)
    at_least(args.samples, "--samples", 1)
    at_most(args.samples, "--samples", bench.MNIST_TRAIN, " (the MNIST training set)")
    if args.numpy_samples is not None:
        at_least(args.numpy_samples, "--numpy-samples", 1)
    at_least(args.peer_samples, "--peer-samples", 1)
    args.hidden = widths(args.hidden)
    at_least(args.batch_size, "--batch-size", 2)
    if args.regime != "per-sample":
        at_most(args.batch_size, "--batch-size", args.samples, " (--samples)")
    for option, lr in (("--lr-per-sample", args.lr_per_sample), ("--lr-batch", args.lr_batch)):
        if lr is not None and (not lr > 0 or lr == float("inf")):
            raise UsageError(f"{option} must be a finite number > 0; got {lr}")
    _check_network(args)
    at_least(args.seed, "--seed", 0)
    threads = _thread_counts(args.torch_threads, bench.MAX_THREADS)
    if args.json is not None:
        output_file(args.json, "--json")
    return threads


def _check_network(args):
    """Refuse, before loading anything, a network that the implementations cannot hold."""
    widths = [784, *args.hidden, 10]
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(widths, widths[1:]))
    rows = max(args.batch_size, 10000)  # a batch, or the test set evaluated at once
    check_memory(
        4 * (_COPIES * n_params + 3 * rows * sum(widths)),
        f"timing a network of {n_params:,} parameters (--hidden)",
    )


def run(args):
    from .. import bench

    threads = _check(args, bench)

    def progress(line):
        print(f"fastnn bench: {line}", file=sys.stderr, flush=True)

    result = bench.run(
        regime=args.regime,
        repeat=args.repeat,
        samples=args.samples,
        numpy_samples=args.numpy_samples,
        peers=args.peers,
        peer_samples=args.peer_samples,
        batch_size=args.batch_size,
        lr_per_sample=args.lr_per_sample,
        lr_batch=args.lr_batch,
        torch_threads=threads,
        seed=args.seed,
        progress=None if args.quiet else progress,
        optimizer=args.optimizer,
        hidden=args.hidden,
    )
    print(bench.format_report(result))
    if args.json is not None:
        print(f"wrote {bench.write_json(result, args.json)}")
    return 0
