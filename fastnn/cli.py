"""The ``fastnn`` command line: ``train``, ``evaluate``, ``predict`` and ``bench``.

User errors print one line to stderr and exit with status 2, without a traceback.
"""

import argparse
import csv
import io
import os
import sys
import time
from types import SimpleNamespace

import numpy as np

from . import datasets
from ._files import atomic_write
from .backend import BACKENDS
from .layers import Dense
from .model import DTYPES, Sequential
from .optimizers import SGD

DATASETS = ("mnist", "fashion-mnist", "digits", "spiral", "csv:PATH")
TASKS = datasets.TASKS
LOSS_FOR_TASK = {
    "classification": "softmax_cross_entropy",
    "binary": "binary_cross_entropy",
    "regression": "mse",
}
SPIRAL = {"n_samples": 3000, "n_classes": 3, "noise": 0.2, "seed": 0}
TEST_SIZE = 0.2  # digits, spiral and CSV tables: the held-out test fraction
SPLIT_SEED = 0  # every split, so that `evaluate` finds the same test rows as `train`
DIGIT_NAMES = [str(i) for i in range(10)]


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


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1); got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1); got {text!r}")
    return value


def _dataset_name(text):
    if text in DATASETS[:-1] or (text.startswith("csv:") and len(text) > 4):
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of mnist, fashion-mnist, digits, spiral or csv:PATH; got {text!r}"
    )


def _add_data_options(parser, for_training):
    parser.add_argument(
        "--dataset",
        type=_dataset_name,
        default="mnist" if for_training else None,
        metavar="NAME",
        help="mnist (bundled), fashion-mnist (downloaded once, then cached), digits "
        "(scikit-learn's 8x8 digits, 80/20 split), spiral (3,000 points on 3 arms, noise 0.2, "
        "80/20 split) or csv:PATH (a CSV table with a header row; 70/10/20 split into "
        "training, validation and test rows unless --val-split says otherwise)"
        + (" (default: mnist)" if for_training else " (default: the one the model was trained on)"),
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="folder holding the four IDX files of mnist or fashion-mnist (default: bundled "
        "MNIST; Fashion-MNIST in $FASTNN_DATA/fashion-mnist, else ~/.cache/fastnn/fashion-mnist)",
    )
    parser.add_argument(
        "--target",
        default=None,
        help="csv:PATH only: the column to predict"
        + ("" if for_training else " (default: the one the model was trained on)"),
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help="csv:PATH only: regression (linear output, MSE), binary (one sigmoid output, "
        "binary cross-entropy; the target has two values) or classification (softmax over the "
        "target's values)"
        + (" (default: regression)" if for_training else " (default: the model's)"),
    )
    parser.add_argument(
        "--features",
        default=None,
        metavar="COLS",
        help="csv:PATH only: comma-separated feature columns (default: every column but the "
        "target)",
    )


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Train dense neural networks fast on the CPU."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train a network and report its test metrics",
        description="Train a dense network with SGD, then report the test metrics. Defaults: "
        "MNIST (bundled), 784-128-10, ReLU, softmax cross-entropy, float32, per-sample SGD at "
        "lr 0.01, one epoch, numba backend. Each epoch shows a progress bar with the running "
        "loss, then one line: epoch seconds, training loss and accuracy, and the validation "
        "loss and accuracy when --val-split is set.",
    )
    _add_data_options(train, for_training=True)
    train.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=[128],
        help="hidden layer widths, comma-separated, e.g. 128 or 256,128; an empty string for "
        "none (default: 128)",
    )
    train.add_argument(
        "--activation",
        choices=("relu", "sigmoid", "tanh"),
        default="relu",
        help="activation of the hidden layers (default: relu)",
    )
    train.add_argument(
        "--loss",
        choices=sorted(LOSS_FOR_TASK.values()),
        default=None,
        help="loss (default: softmax_cross_entropy for classification, binary_cross_entropy "
        "for binary, mse for regression); binary tasks may also use softmax_cross_entropy",
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
    train.add_argument("--nesterov", action="store_true", help="use Nesterov momentum")
    train.add_argument(
        "--decay",
        type=float,
        default=0.0,
        help="learning-rate decay per update: lr_t = lr / (1 + decay * t) (default: 0)",
    )
    train.add_argument(
        "--l1", type=float, default=0.0, help="L1 penalty on the weights (default: 0)"
    )
    train.add_argument(
        "--l2", type=float, default=0.0, help="L2 penalty on the weights (default: 0)"
    )
    train.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=None,
        help="compute backend (default: $FASTNN_BACKEND, else numba)",
    )
    train.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="parameter dtype (default: float32)"
    )
    train.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for the initial weights and the shuffles (default: 0); data splits always "
        "use seed 0, so that evaluate finds the same test rows",
    )
    train.add_argument(
        "--val-split",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="fraction held out for validation, evaluated after every epoch: of the training "
        "set for mnist, fashion-mnist, digits and spiral, of all rows for csv:PATH "
        "(default: 0, no validation)",
    )
    train.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write the trained model to PATH (.npz), with what predict and evaluate need "
        "(data set, feature names and scaling, class names)",
    )
    train.add_argument(
        "--plots",
        metavar="DIR",
        default=None,
        help="write PNG plots into DIR: history.png (loss and accuracy per epoch), and "
        "confusion_matrix.png, roc_curve.png (binary) or predictions.png (regression); needs "
        'matplotlib (pip install "fastnn[plot]")',
    )
    train.add_argument(
        "--quiet", action="store_true", help="no progress bar (the per-epoch lines remain)"
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="report a saved model's metrics on a data set's test rows",
        description="Load a model saved by `fastnn train --save` and print its metrics on the "
        "test rows of a data set: loss, accuracy, macro precision/recall/F1, top-2 accuracy "
        "(more than 2 classes), ROC AUC (binary), expected calibration error, the "
        "classification report and the confusion matrix; or MSE, MAE and R^2 for regression.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a model file (.npz)")
    _add_data_options(evaluate, for_training=False)
    evaluate.add_argument(
        "--split",
        choices=("test", "all"),
        default="test",
        help="csv:PATH only: the test rows of the same split as training (default), or every "
        "row of the file (a file of new rows)",
    )
    evaluate.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=None,
        help="compute backend (default: the one the model was saved with)",
    )
    evaluate.add_argument(
        "--plots", metavar="DIR", default=None, help="write the plots that fit the task into DIR"
    )
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser(
        "predict",
        help="predict labels or values for the rows of a file",
        description="Load a model saved by `fastnn train --save` and print one prediction per "
        "input row (a header line first). INPUT is a .npy array (one row per sample, or "
        "images shaped like the model's: 28x28 or 8x8, alone or stacked), a .csv file (with a "
        "header naming the model's feature columns, or bare numeric rows), or a .png image "
        "for the digit models (grey scale, the model's size; needs matplotlib). Raw CSV rows "
        "are standardised with the statistics kept in the model.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model file (.npz)")
    predict.add_argument("input", metavar="INPUT", help="a .npy, .csv or .png file")
    predict.add_argument(
        "--output", metavar="PATH", default=None, help="write the predictions as CSV to PATH"
    )
    predict.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability (classification models)",
    )
    predict.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="images only: invert grey levels; the models expect light digits on a dark "
        "background, and auto inverts images whose mean is above 0.5 (default: auto)",
    )
    predict.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        default=None,
        help="compute backend (default: the one the model was saved with)",
    )
    predict.set_defaults(run=_predict)
    _add_bench_parser(commands)
    return parser


def _add_bench_parser(commands):
    bench = commands.add_parser(
        "bench",
        help="time one MNIST epoch per backend (and, with --peers, in PyTorch, JAX, scikit-learn)",
        description="Time one epoch of MNIST (784-128-10, ReLU, softmax cross-entropy, float32, "
        "plain SGD) on fastnn's numba and numpy backends, per sample (batch size 1) and in "
        "mini-batches, and print per row: seconds (median and min), samples per second, the "
        "test accuracy after the epoch and the speed-up of the numba backend. Runs are "
        "interleaved, one round over every implementation at a time, after a warm-up round "
        "that is not timed. Slow per-sample jobs train on a slice of the training set; the "
        "speed-up compares samples per second with the numba backend on the same samples. "
        "Everything starts from the same initial weights.",
    )
    bench.add_argument(
        "--peers",
        action="store_true",
        help="also time PyTorch, JAX and scikit-learn MLPClassifier, each when installed "
        '(pip install "fastnn[peers]"); a missing one is skipped with a note',
    )
    bench.add_argument(
        "--regime",
        choices=("per-sample", "batch", "both"),
        default="both",
        help="per-sample SGD (batch size 1), mini-batch SGD, or both (default: both)",
    )
    bench.add_argument(
        "--repeat", type=int, default=3, help="timed rounds after the warm-up (default: 3)"
    )
    bench.add_argument(
        "--samples",
        type=int,
        default=60000,
        help="train on the first N training images (default: 60000, the whole epoch)",
    )
    bench.add_argument(
        "--numpy-samples",
        type=int,
        default=None,
        metavar="N",
        help="per-sample regime: train fastnn's numpy backend on the first N images (default: "
        "--peer-samples)",
    )
    bench.add_argument(
        "--peer-samples",
        type=int,
        default=6000,
        metavar="N",
        help="per-sample regime: train scikit-learn and PyTorch on the first N images "
        "(default: 6000); also the numpy backend's default",
    )
    bench.add_argument(
        "--batch-size",
        type=int,
        default=128,
        help="the mini-batch regime's batch size (default: 128)",
    )
    bench.add_argument(
        "--lr-per-sample",
        type=float,
        default=0.01,
        metavar="LR",
        help="learning rate per sample (default: 0.01)",
    )
    bench.add_argument(
        "--lr-batch",
        type=float,
        default=0.1,
        metavar="LR",
        help="learning rate of the mini-batch regime (default: 0.1)",
    )
    bench.add_argument(
        "--torch-threads",
        default="1,2",
        metavar="N[,N...]",
        help="torch.set_num_threads values to time, one row each (default: 1,2)",
    )
    bench.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and shuffles (default: 0)"
    )
    bench.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write every raw result to PATH as JSON: settings, per-run times and accuracies, "
        "machine (CPU, cores, load, library versions, BLAS threads, OPENBLAS_* and thread "
        "variables when set)",
    )
    bench.add_argument(
        "--quiet", action="store_true", help="no progress lines on stderr (the report remains)"
    )
    bench.set_defaults(run=_bench)


# -- data ------------------------------------------------------------------------------------


def _split(X, y, fraction, stratify=True):
    from sklearn.model_selection import train_test_split

    return train_test_split(
        X, y, test_size=fraction, random_state=SPLIT_SEED, stratify=y if stratify else None
    )


def _load_data(
    name,
    data_dir=None,
    target=None,
    task=None,
    features=None,
    val_split=0.0,
    scaling=None,
    split="test",
    target_scaling=None,
):
    """The data set ``name``, split, as a namespace the commands share.

    For a CSV table, ``scaling`` and ``target_scaling`` (a model's) replace the training rows'
    statistics, and ``split="all"`` puts every row into the test part. Regression targets are
    standardised; ``meta["target_scaling"]`` says how.
    """
    if data_dir is not None and name not in ("mnist", "fashion-mnist"):
        raise UserError(f"--data-dir applies to mnist and fashion-mnist, not to {name!r}")
    if not name.startswith("csv:") and (target or task not in (None, "classification")):
        raise UserError(
            f"--target and --task apply to csv:PATH; {name!r} is a classification data set"
        )
    meta = {"dataset": name}
    classes = None
    if name in ("mnist", "fashion-mnist"):
        loader = datasets.load_mnist if name == "mnist" else datasets.load_fashion_mnist
        (X_train, y_train), (X_test, y_test) = loader(data_dir=data_dir)
        meta.update(image_shape=[28, 28], pixel_max=255)
        classes = DIGIT_NAMES if name == "mnist" else list(datasets.FASHION_MNIST_CLASSES)
        title = "MNIST" if name == "mnist" else "Fashion-MNIST"
    elif name == "digits":
        (X_train, y_train), (X_test, y_test) = datasets.load_digits(TEST_SIZE, SPLIT_SEED)
        meta.update(image_shape=[8, 8], pixel_max=16)
        classes, title = DIGIT_NAMES, "digits (scikit-learn, 8x8)"
    elif name == "spiral":
        X, y = datasets.make_spiral(**SPIRAL)
        X_train, X_test, y_train, y_test = _split(X, y, TEST_SIZE)
        classes = [str(k) for k in range(SPIRAL["n_classes"])]
        title = f"spiral ({SPIRAL['n_classes']} arms, noise {SPIRAL['noise']})"
    else:
        path = name[4:]
        if target is None:
            raise UserError(f"--dataset {name} needs --target COLUMN, the column to predict")
        task = task or "regression"
        table = datasets.load_csv(
            path,
            target=target,
            task=task,
            features=None if features is None else [f.strip() for f in features.split(",")],
            val_size=val_split,
            test_size=TEST_SIZE,
            seed=SPLIT_SEED,
            scale=False,
        )
        scaling = table.scaling if scaling is None else scaling
        X_train, y_train = datasets.standardize(table.X_train, scaling), table.y_train
        X_test, y_test = datasets.standardize(table.X_test, scaling), table.y_test
        X_val, y_val = datasets.standardize(table.X_val, scaling), table.y_val
        if split == "all":
            X_test = np.concatenate([X_train, X_val, X_test])
            y_test = np.concatenate([y_train, y_val, y_test])
        if task == "regression":  # train on standardised targets; report in their units
            target_scaling = target_scaling or (table.target_mean, table.target_scale)
            meta["target_scaling"] = list(target_scaling)
            mean, scale = target_scaling
            y_train, y_val, y_test = ((y - mean) / scale for y in (y_train, y_val, y_test))
        meta.update(
            target=target, task=task, features=table.features, val_size=val_split, path=path
        )
        classes = table.classes or None
        title = f"{os.path.basename(path)} (target {target!r}, {task})"
    if not name.startswith("csv:"):
        task = "classification"
        X_val = y_val = None
        if val_split > 0:
            X_train, X_val, y_train, y_val = _split(X_train, y_train, val_split)
    elif val_split == 0:
        X_val = y_val = None
    if classes is not None:
        meta["classes"] = list(classes)
    return SimpleNamespace(
        name=name,
        title=title,
        task=task,
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        X_test=X_test,
        y_test=y_test,
        scaling=scaling,
        target_scaling=meta.get("target_scaling"),
        classes=classes,
        meta=meta,
    )


# -- train -----------------------------------------------------------------------------------


def _build_model(args, data):
    loss = args.loss or LOSS_FOR_TASK[data.task]
    allowed = {
        "classification": ("softmax_cross_entropy",),
        "binary": ("binary_cross_entropy", "softmax_cross_entropy"),
        "regression": ("mse",),
    }[data.task]
    if loss not in allowed:
        raise UserError(
            f"--loss {loss} does not fit a {data.task} task; use {' or '.join(allowed)}"
        )
    if loss == "softmax_cross_entropy":
        n_out = len(data.classes) if data.classes else int(data.y_train.max()) + 1
    else:
        n_out = 1
    widths = [data.X_train.shape[1], *args.hidden]
    layers = [
        Dense(n_in, n_out_, activation=args.activation) for n_in, n_out_ in zip(widths, widths[1:])
    ]
    layers.append(Dense(widths[-1], n_out))
    return Sequential(layers, loss=loss, backend=args.backend, dtype=args.dtype, seed=args.seed)


def _train(args):
    load_started = time.perf_counter()
    data = _load_data(
        args.dataset, args.data_dir, args.target, args.task, args.features, args.val_split
    )
    load_seconds = time.perf_counter() - load_started
    model = _build_model(args, data)
    model.metadata = data.meta
    model.feature_scaling = data.scaling
    optimizer = SGD(
        lr=args.lr,
        momentum=args.momentum,
        nesterov=args.nesterov,
        decay=args.decay,
        l1=args.l1,
        l2=args.l2,
    )
    if args.plots:
        from . import plots  # noqa: F401  (fail now, not after training, without matplotlib)

        plots._figure()
    what = "images" if "image_shape" in data.meta else "rows"
    validation = f", {len(data.X_val):,} validation" if data.X_val is not None else ""
    print(f"model: {model.summary()}")
    print(
        f"data: {data.title}, {len(data.X_train):,} training{validation} and "
        f"{len(data.X_test):,} test {what} (loaded in {load_seconds:.2f}s)"
    )
    print(f"training: {args.epochs} epoch(s), batch size {args.batch_size}, {optimizer}")
    history = model.fit(
        data.X_train,
        data.y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=optimizer,
        validation_data=None if data.X_val is None else (data.X_val, data.y_val),
        verbose=2 if args.quiet else 1,
    )
    total = sum(history.history["epoch_time"])
    print(f"train time: {total:.3f}s ({total / max(args.epochs, 1):.3f}s per epoch)")
    scores = model.evaluate(data.X_test, data.y_test)
    if model.loss == "mse":
        from . import metrics

        report = metrics.report(model, data.X_test, data.y_test, target_scaling=data.target_scaling)
        print(
            f"test loss: {scores['loss']:.4f} (standardised target)  test MSE: "
            f"{report['mse']:.4f}  MAE: {report['mae']:.4f}  R^2: {report['r2']:.4f}"
        )
    else:
        print(f"test loss: {scores['loss']:.4f}  test accuracy: {scores['accuracy']:.4f}")
    if args.save:
        print(f"saved: {model.save(args.save)}")
    if args.plots:
        _write_plots(model, data, args.plots, history)
    return 0


def _write_plots(model, data, folder, history=None):
    from . import metrics, plots

    report = metrics.report(
        model,
        data.X_test,
        data.y_test,
        class_names=data.classes,
        target_scaling=data.target_scaling,
    )
    paths = plots.plot_report(history, report, folder, class_names=data.classes)
    print(f"plots: {', '.join(paths)}")


# -- evaluate --------------------------------------------------------------------------------


def _load_model(path, backend):
    from .serialization import load

    if not os.path.exists(path):
        raise UserError(f"model file {path!r} does not exist")
    return load(path, backend=backend)


def _evaluate(args):
    from . import metrics

    model = _load_model(args.model, args.backend)
    meta = model.metadata
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise UserError(f"{args.model} does not record its data set; name one with --dataset")
    csv_data = name.startswith("csv:")
    if args.split == "all" and not csv_data:
        raise UserError("--split all applies to csv:PATH data sets")
    if csv_data:
        target = args.target or meta.get("target")
        task = args.task or meta.get("task")
        features = args.features or (",".join(meta["features"]) if "features" in meta else None)
        data = _load_data(
            name,
            None,
            target,
            task,
            features,
            meta.get("val_size", 0.0),
            scaling=model.feature_scaling,  # the model's: the rows may come from a new file
            split=args.split,
            target_scaling=meta.get("target_scaling"),
        )
        if meta.get("classes") and data.classes and data.classes != meta["classes"]:
            raise UserError(
                f"the target of {name[4:]} holds the classes {data.classes}, but the model "
                f"was trained on {meta['classes']}"
            )
    else:
        data = _load_data(name, args.data_dir, args.target, args.task)
    n_in = model.layers[0].n_in
    if data.X_test.shape[1] != n_in:
        raise UserError(
            f"{name} has {data.X_test.shape[1]} features per sample, but the model takes {n_in}"
        )
    print(f"model: {model.summary()}")
    print(f"data: {data.title}, {len(data.X_test):,} test rows")
    classes = meta.get("classes") or data.classes
    report = metrics.report(
        model, data.X_test, data.y_test, class_names=classes, target_scaling=data.target_scaling
    )
    print(metrics.format_report(report))
    if args.plots:
        from . import plots

        paths = plots.plot_report(None, report, args.plots, class_names=classes)
        print(f"plots: {', '.join(paths)}")
    return 0


# -- predict ---------------------------------------------------------------------------------


def _read_png(path):
    try:
        from matplotlib.image import imread
    except ImportError:
        raise UserError('reading PNG images needs matplotlib: pip install "fastnn[plot]"') from None
    try:
        image = np.asarray(imread(path), np.float64)
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path} is not a readable PNG image: {exc}") from None
    if image.dtype.kind in "ui":
        image = image / np.iinfo(image.dtype).max
    if image.ndim == 3:  # RGB(A): drop alpha, average the colours
        image = image[..., :3].mean(axis=2)
    return image


def _image_rows(images, meta, invert, path, from_png=False):
    """Images (n, h, w) in the model's size as rows in [0, 1], light digits on dark."""
    images = np.asarray(images, np.float64)
    if not from_png and images.size and images.max() > 1:
        images = images / meta.get("pixel_max", 255)
    if invert == "yes" or (invert == "auto" and images.mean() > 0.5):
        images = 1.0 - images
    return np.clip(images, 0, 1).reshape(images.shape[0], -1)


def _read_csv_rows(path, meta):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if not rows:
        raise UserError(f"{path} holds no rows")

    def numeric(row):
        try:
            [float(cell) for cell in row]
        except ValueError:
            return False
        return True

    header = None if numeric(rows[0]) else [cell.strip() for cell in rows[0]]
    body = rows if header is None else rows[1:]
    features = meta.get("features")
    columns = None
    if header is not None and features:
        missing = [name for name in features if name not in header]
        if missing:
            raise UserError(f"{path} lacks the model's feature column(s) {missing}")
        columns = [header.index(name) for name in features]
    X = np.empty((len(body), len(columns) if columns else len(body[0]) if body else 0))
    for i, row in enumerate(body):
        cells = [row[c] for c in columns] if columns else row
        if len(cells) != X.shape[1]:
            raise UserError(f"{path}, row {i + 1 + (header is not None)}: {len(cells)} fields")
        try:
            X[i] = [float(cell) for cell in cells]
        except ValueError:
            raise UserError(
                f"{path}, row {i + 1 + (header is not None)}: expected numbers, got {cells}"
            ) from None
    return X


def _read_input(path, model, invert):
    meta = model.metadata
    shape = tuple(meta.get("image_shape", ()))
    n_in = model.layers[0].n_in
    if not os.path.exists(path):
        raise UserError(f"input file {path!r} does not exist")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".png":
        if not shape:
            raise UserError(f"{path} is an image, but this model was not trained on images")
        image = _read_png(path)
        if image.shape != shape:
            raise UserError(
                f"{path} is {image.shape[0]}x{image.shape[1]} pixels; the model takes "
                f"{shape[0]}x{shape[1]} images: resize it first"
            )
        return _image_rows(image[None], meta, invert, path, from_png=True)
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path} is not a readable .npy array: {exc}") from None
        if shape and arr.shape[-2:] == shape and arr.ndim in (2, 3):
            return _image_rows(arr.reshape(-1, *shape), meta, invert, path)
        if arr.ndim == 1 and arr.shape[0] == n_in:
            arr = arr[None]
        X = np.asarray(arr, np.float64)
    elif suffix == ".csv":
        X = _read_csv_rows(path, meta)
    else:
        raise UserError(f"INPUT must be a .npy, .csv or .png file; got {path!r}")
    if X.ndim != 2 or X.shape[1] != n_in:
        raise UserError(
            f"{path} holds an array of shape {X.shape}; the model takes rows of {n_in} "
            "features" + (f" or {shape[0]}x{shape[1]} images" if shape else "")
        )
    if model.feature_scaling is not None:
        X = datasets.standardize(X, model.feature_scaling)
    return X


def _predict(args):
    model = _load_model(args.model, args.backend)
    X = _read_input(args.input, model, args.invert)
    classes = model.metadata.get("classes")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if model.loss == "mse":
        if args.proba:
            raise UserError("--proba needs a classification model; this one does regression")
        values = model.predict(X).reshape(len(X), -1).astype(np.float64)
        if "target_scaling" in model.metadata:
            mean, scale = model.metadata["target_scaling"]
            values = values * scale + mean
        writer.writerow(
            ["prediction"]
            if values.shape[1] == 1
            else [f"prediction_{j}" for j in range(values.shape[1])]
        )
        writer.writerows([[f"{v:.6g}" for v in row] for row in values])
    else:
        proba = model.predict_proba(X)
        labels = proba.argmax(axis=1)
        names = classes or [str(j) for j in range(proba.shape[1])]
        header = ["prediction"] + ([f"p_{name}" for name in names] if args.proba else [])
        writer.writerow(header)
        for label, row in zip(labels, proba):
            probabilities = [f"{p:.6f}" for p in row] if args.proba else []
            writer.writerow([names[label], *probabilities])
    text = buffer.getvalue()
    if args.output:
        with atomic_write(args.output, "w") as f:
            f.write(text)
        print(f"wrote {len(X)} prediction(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# -- bench -----------------------------------------------------------------------------------


def _at_least(value, option, low):
    if value < low:
        raise UserError(f"{option} must be an integer >= {low}; got {value}")
    return value


def _thread_counts(text):
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(count < 1 for count in counts):
        raise UserError(
            f"--torch-threads must be thread counts >= 1, comma-separated such as 1,2; got {text!r}"
        )
    return counts


def _bench(args):
    from . import bench

    _at_least(args.repeat, "--repeat", 1)
    _at_least(args.samples, "--samples", 1)
    if args.samples > bench.MNIST_TRAIN:
        raise UserError(
            f"--samples must be at most {bench.MNIST_TRAIN} (the MNIST training set); "
            f"got {args.samples}"
        )
    if args.numpy_samples is not None:
        _at_least(args.numpy_samples, "--numpy-samples", 1)
    _at_least(args.peer_samples, "--peer-samples", 1)
    _at_least(args.batch_size, "--batch-size", 2)
    for option, lr in (("--lr-per-sample", args.lr_per_sample), ("--lr-batch", args.lr_batch)):
        if not lr > 0 or lr == float("inf"):
            raise UserError(f"{option} must be a finite number > 0; got {lr}")
    _at_least(args.seed, "--seed", 0)
    threads = _thread_counts(args.torch_threads)
    if args.json is not None:
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder):
            raise UserError(f"--json {args.json}: the folder {folder} does not exist")

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
    )
    print(bench.format_report(result))
    if args.json is not None:
        print(f"wrote {bench.write_json(result, args.json)}")
    return 0


def main(argv=None):
    """Entry point of the ``fastnn`` command."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
