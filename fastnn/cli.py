"""The ``fastnn`` command line.

User errors print one line to stderr and exit with status 2, without a traceback.
"""

import argparse
import sys
import time

from . import datasets
from .backend import BACKENDS
from .layers import Dense
from .model import DTYPES, Sequential
from .optimizers import SGD


class UserError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


def _hidden_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 128 or 256,128; got {text!r}"
        ) from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return sizes


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Train dense neural networks fast on the CPU."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train a network on MNIST and report the test accuracy",
        description="Train a dense network on MNIST (bundled) with SGD, then report the test "
        "loss and accuracy. Defaults: 784-128-10, ReLU, softmax cross-entropy, float32, "
        "per-sample SGD at lr 0.01, one epoch, numba backend.",
    )
    train.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=None,
        help="compute backend (default: $FASTNN_BACKEND, else numba)",
    )
    train.add_argument(
        "--epochs", type=int, default=1, help="passes over the training set (default: 1)"
    )
    train.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="samples per update; 1 is per-sample SGD (default: 1)",
    )
    train.add_argument("--lr", type=float, default=0.01, help="learning rate (default: 0.01)")
    train.add_argument(
        "--momentum", type=float, default=0.0, help="momentum in [0, 1) (default: 0)"
    )
    train.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=[128],
        help="hidden layer widths, comma-separated, e.g. 128 or 256,128 (default: 128)",
    )
    train.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="parameter dtype (default: float32)"
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the initial weights and the shuffles (default: 0)",
    )
    train.add_argument(
        "--save", metavar="PATH", default=None, help="write the trained model to PATH (.npz)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)
    return parser


def _train(args):
    load_started = time.perf_counter()
    (X_train, y_train), (X_test, y_test) = datasets.load_mnist()
    load_seconds = time.perf_counter() - load_started
    widths = [X_train.shape[1], *args.hidden]
    layers = [Dense(n_in, n_out, activation="relu") for n_in, n_out in zip(widths, widths[1:])]
    layers.append(Dense(widths[-1], 10))
    model = Sequential(
        layers, loss="softmax_cross_entropy", backend=args.backend, dtype=args.dtype, seed=args.seed
    )
    optimizer = SGD(lr=args.lr, momentum=args.momentum)
    print(f"model: {model.summary()}")
    print(
        f"data: MNIST, {len(X_train):,} training and {len(X_test):,} test images "
        f"(loaded in {load_seconds:.2f}s)"
    )
    print(f"training: {args.epochs} epoch(s), batch size {args.batch_size}, {optimizer}")
    history = model.fit(
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=optimizer,
        verbose=2 if args.quiet else 1,
    )
    scores = model.evaluate(X_test, y_test)
    total = sum(history.history["epoch_time"])
    print(f"train time: {total:.3f}s ({total / max(args.epochs, 1):.3f}s per epoch)")
    print(f"test loss: {scores['loss']:.4f}  test accuracy: {scores['accuracy']:.4f}")
    if args.save:
        print(f"saved: {model.save(args.save)}")
    return 0


def main(argv=None):
    """Entry point of the ``fastnn`` command."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, ValueError, TypeError, OSError) as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
