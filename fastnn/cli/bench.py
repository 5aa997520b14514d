"""``fastnn bench``: epoch times of the backends side by side (and of the peers), through
:mod:`fastnn.bench`, with every option checked first so that a mistake costs no timing run."""

import shlex
import sys

from .._distribution import pip_install
from ..bench.data import BAG_OF_WORDS, BAG_OF_WORDS_LRS, MNIST_LRS, BagOfWords, Mnist
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
    "Time one epoch (MNIST, 784-128-10 unless --hidden says otherwise; or --data bag-of-words, "
    "sparse CSR rows of synthetic documents, 100000-256-20; ReLU, softmax cross-entropy, "
    "float32, plain SGD or --optimizer adam) on fastnn's numba and numpy backends, per sample "
    "(batch size 1) and in mini-batches, and print per row: the network, seconds (median and "
    "min), samples per second, the test accuracy after the epoch and the speed-up of the numba "
    "backend. Runs are interleaved, one round over every implementation at a time, after an "
    "untimed warm-up. Slow per-sample jobs train on a slice of the training set; the speed-up "
    "compares samples per second with the numba backend on the same samples. Everything "
    "starts from the same initial weights."
)
DATA = ("mnist", "bag-of-words")
PEERS = ("torch", "jax", "sklearn")
BAG_OF_WORDS_HELP = {
    "documents": "documents generated, 80%% for training, 20%% for testing",
    "features": "the vocabulary: the network's input width",
    "classes": "classes of documents",
    "words": "mean words per document",
}


def add_options(parser):
    _add_timing_options(parser.add_argument_group("what is timed"))
    _add_job_options(parser.add_argument_group("the training job"))
    bag = parser.add_argument_group("--data bag-of-words: fastnn.datasets.make_bag_of_words")
    for name, text in BAG_OF_WORDS_HELP.items():
        bag.add_argument(
            f"--{name}",
            type=float if name == "words" else int,
            default=None,
            metavar="N",
            help=f"{text} (default: {BAG_OF_WORDS[name]})",
        )
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
        "--data",
        choices=DATA,
        default="mnist",
        help="MNIST's dense images (default), or bag-of-words documents as sparse CSR rows: "
        "scikit-learn on the CSR matrix, PyTorch nn.EmbeddingBag(sparse=True), JAX BCOO rows",
    )
    group.add_argument(
        "--csr",
        action="store_true",
        help="MNIST: also time fastnn numba on the same rows held as a scipy.sparse CSR matrix",
    )
    group.add_argument(
        "--peers",
        nargs="?",
        const=",".join(PEERS),
        default=None,
        metavar="NAME[,NAME...]",
        help="also time PyTorch, JAX and scikit-learn MLPClassifier (or those named: torch, jax, "
        f"sklearn), each when installed ({pip_install('peers')}); a missing one is skipped "
        "with a note",
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
        default=None,
        help="train on the first N training rows (default: all of them, 60000 on MNIST)",
    )
    group.add_argument(
        "--numpy-samples",
        type=int,
        default=None,
        metavar="N",
        help="per-sample regime: train fastnn's numpy backend on the first N rows (default: "
        "--peer-samples)",
    )
    group.add_argument(
        "--peer-samples",
        type=int,
        default=None,
        metavar="N",
        help="per-sample regime: train the slow peers on the first N rows (MNIST: scikit-learn "
        "and PyTorch, default 6000; bag-of-words: scikit-learn and JAX, default 1000); also the "
        "numpy backend's default",
    )


def _add_job_options(group):
    OPTIMIZER.add(
        group,
        choices=("sgd", "adam"),
        help="plain SGD (default), or Adam (beta1 0.9, beta2 0.999, eps 1e-8, added to sqrt(v) "
        "as in scikit-learn and Keras; JAX's epoch writes that rule by hand, PyTorch runs "
        "torch.optim.Adam, which adds eps after the bias correction); on bag-of-words lazy Adam "
        "(PyTorch's SparseAdam for the embedding), which scikit-learn lacks",
    )
    HIDDEN.add(
        group,
        default=None,
        help="hidden ReLU layer widths for every implementation, comma-separated: 128 (default; "
        "256 on bag-of-words), 1024 or 256,256,256; an empty string for none",
    )
    BATCH_SIZE.add(
        group,
        default=128,
        help="the mini-batch regime's batch size, at most --samples (default: 128)",
    )
    for option, regime, what in (("--lr-per-sample", "per-sample", "per sample"),
                                 ("--lr-batch", "batch", "of the mini-batch regime")):  # fmt: skip
        sgd, adam = MNIST_LRS["sgd"][regime], MNIST_LRS["adam"][regime]
        bag_sgd, bag_adam = BAG_OF_WORDS_LRS["sgd"][regime], BAG_OF_WORDS_LRS["adam"][regime]
        group.add_argument(
            option,
            type=float,
            default=None,
            metavar="LR",
            help=f"learning rate {what} (default: {sgd} with sgd, {adam} with adam; on "
            f"bag-of-words {bag_sgd} and {bag_adam})",
        )
    group.add_argument(
        "--torch-threads",
        default=None,
        metavar="N[,N...]",
        help="torch.set_num_threads values to time, one row each, at most 1024 (default: 1,2; "
        "2 on bag-of-words)",
    )
    SEED.add(group, help="seed of the initial weights and shuffles (default: 0)")


def _peer_names(text):
    """``--peers``: peer names, comma-separated."""
    names = [name.strip() for name in text.split(",")]
    if not all(name in PEERS for name in names):
        raise UsageError(
            f"--peers must name peers among {', '.join(PEERS)}, comma-separated; got {text!r:.60}"
        )
    return names


def _data_kind(args):
    """The data kind the options describe; the bag-of-words options only with its data."""
    if args.data == "mnist":
        for name in BAG_OF_WORDS:
            if getattr(args, name) is not None:
                raise UsageError(f"--{name} applies to --data bag-of-words only")
        return Mnist()
    given = {name: getattr(args, name) for name in BAG_OF_WORDS}
    values = {name: default if given[name] is None else given[name]
              for name, default in BAG_OF_WORDS.items()}  # fmt: skip
    at_least(values["classes"], "--classes", 2)
    at_least(values["features"], "--features", 2 * values["classes"])
    at_least(values["documents"], "--documents", values["classes"])
    if not 0 < values["words"] < float("inf"):
        raise UsageError(f"--words must be a finite number > 0; got {values['words']}")
    return BagOfWords(**values)


def check(args):
    """Every option, named as the user wrote it; returns the data kind, the peers and the
    torch thread counts (None: the kind's), and leaves ``args.hidden`` a list of widths."""
    from ..bench.runner import MAX_THREADS, check_network

    kind = _data_kind(args)
    if args.csr and kind.sparse:
        raise UsageError(f"--csr applies to --data mnist; {kind.title} rows are CSR already")
    peers = False if args.peers is None else _peer_names(args.peers)
    at_least(args.repeat, "--repeat", 1)
    if args.samples is not None:
        at_least(args.samples, "--samples", 1)
        at_most(args.samples, "--samples", kind.train_rows, f" (the {kind.title} training rows)")
    if args.numpy_samples is not None:
        at_least(args.numpy_samples, "--numpy-samples", 1)
    if args.peer_samples is not None:
        at_least(args.peer_samples, "--peer-samples", 1)
    args.hidden = list(kind.hidden) if args.hidden is None else widths(args.hidden)
    at_least(args.batch_size, "--batch-size", 2)
    if args.regime != "per-sample":
        samples = kind.train_rows if args.samples is None else args.samples
        at_most(args.batch_size, "--batch-size", samples, " (--samples)")
    for option, lr in (("--lr-per-sample", args.lr_per_sample), ("--lr-batch", args.lr_batch)):
        if lr is not None and (not lr > 0 or lr == float("inf")):
            raise UsageError(f"{option} must be a finite number > 0; got {lr}")
    check_network([kind.n_in, *args.hidden, kind.n_out], args.batch_size, kind.sparse, "--hidden")
    at_least(args.seed, "--seed", 0)
    threads = None
    if args.torch_threads is not None:
        threads = positive_ints(args.torch_threads, "--torch-threads", "thread counts", "1,2")
        for count in threads:
            at_most(count, "--torch-threads", MAX_THREADS)
    if args.json is not None:
        output_file(args.json, "--json")
    return kind, peers, threads


def run(args, command=None):
    """Run ``fastnn bench``; ``command`` is the line the results file records (default: typed)."""
    from .. import bench

    kind, peers, threads = check(args)

    def progress(line):
        print(f"fastnn bench: {line}", file=sys.stderr, flush=True)

    result = bench.run(
        dataset=kind,
        regime=args.regime,
        repeat=args.repeat,
        samples=args.samples,
        numpy_samples=args.numpy_samples,
        peers=peers,
        peer_samples=args.peer_samples,
        batch_size=args.batch_size,
        lr_per_sample=args.lr_per_sample,
        lr_batch=args.lr_batch,
        torch_threads=threads,
        seed=args.seed,
        progress=None if args.quiet else progress,
        optimizer=args.optimizer,
        hidden=args.hidden,
        csr=args.csr,
    )
    result["command"] = command or shlex.join(["fastnn", *args.argv])
    print(bench.format_report(result))
    if args.json is not None:
        print(f"wrote {bench.write_json(result, args.json)}")
    return 0
