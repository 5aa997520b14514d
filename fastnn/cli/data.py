"""The data sets the commands train and evaluate on: one small loader per name, in a table.

Every split is seeded with :data:`SPLIT_SEED`, whatever ``--seed`` is, so that ``fastnn
evaluate`` finds the test rows that ``fastnn train`` held out. CSV rows stay raw: the model is
given the training rows' :class:`~fastnn.scaling.Scaling` and standardises them itself. Rows of
an svmlight file stay sparse (CSR) and are never standardised, which would make them dense; the
model keeps their width and the base of their indices (``n_features``, ``zero_based``), so that
new files are read as the training file was. With ``split="all"`` (evaluation on a file of new
rows) a file is not split at all, and its labels are mapped to the model's classes: a file of a
few rows, or of one class, is fine.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from .. import datasets
from ..datasets.svmlight import read_labelled
from ..datasets.tabular import read_labelled_csv
from ..scaling import Scaling
from .options import UsageError, file_kind

SPIRAL = {"n_samples": 3000, "n_classes": 3, "noise": 0.2, "seed": 0}
TEST_SIZE = 0.2  # digits, spiral, CSV and svmlight files: the held-out test fraction
SPLIT_SEED = 0  # every split, so that `evaluate` finds the same test rows as `train`
DIGIT_NAMES = [str(i) for i in range(10)]


@dataclass
class Request:
    """What the command line asks for: a data set's name and the options that shape it."""

    name: str
    data_dir: str = None
    target: str = None
    task: str = None
    features: list = None
    val_split: float = 0.0
    split: str = "test"  # files only: "all" puts every row into the test part
    classes: list = None  # files only: a trained model's class names, to map the labels to
    n_features: int = None  # svmlight only: a trained model's width
    zero_based: object = "auto"  # svmlight only: the base of the indices (True, False, "auto")


@dataclass
class Data:
    """A data set, split: raw rows, with what a model needs to keep about them (``meta``)."""

    title: str
    task: str
    X_train: np.ndarray  # or a scipy.sparse CSR matrix (svmlight), as are X_test and X_val
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    X_val: np.ndarray = None
    y_val: np.ndarray = None
    classes: list = None
    meta: dict = field(default_factory=dict)
    scaling: Scaling = None

    @property
    def unit(self):
        return "images" if "image_shape" in self.meta else "rows"


def _idx(request, loader, title, classes):
    (X_train, y_train), (X_test, y_test) = loader(data_dir=request.data_dir)
    meta = {"image_shape": [28, 28], "pixel_max": 255}
    return Data(title, "classification", X_train, y_train, X_test, y_test, classes=classes,
                meta=meta)  # fmt: skip


def _mnist(request):
    return _idx(request, datasets.load_mnist, "MNIST", DIGIT_NAMES)


def _fashion_mnist(request):
    classes = list(datasets.FASHION_MNIST_CLASSES)
    return _idx(request, datasets.load_fashion_mnist, "Fashion-MNIST", classes)


def _digits(request):
    (X_train, y_train), (X_test, y_test) = datasets.load_digits(TEST_SIZE, SPLIT_SEED)
    meta = {"image_shape": [8, 8], "pixel_max": 16}
    return Data("digits (scikit-learn, 8x8)", "classification", X_train, y_train, X_test, y_test,
                classes=DIGIT_NAMES, meta=meta)  # fmt: skip


def _spiral(request):
    X, y = datasets.make_spiral(**SPIRAL)
    X_train, X_test, y_train, y_test = datasets.split(X, y, TEST_SIZE, SPLIT_SEED, stratify=True)
    title = f"spiral ({SPIRAL['n_classes']} arms, noise {SPIRAL['noise']})"
    classes = [str(k) for k in range(SPIRAL["n_classes"])]
    return Data(title, "classification", X_train, y_train, X_test, y_test, classes=classes)


def _classes(request, task):
    return None if task == "regression" else request.classes


def _csv(request):
    path = request.name[4:]
    if request.target is None:
        raise UsageError(f"--dataset {request.name} needs --target COLUMN, the column to predict")
    task = request.task or "regression"
    classes = _classes(request, task)
    meta = {"target": request.target, "task": task, "val_size": request.val_split, "path": path}
    title = f"{os.path.basename(path)} (target {request.target!r}, {task})"
    if request.split == "all":
        X, y, features, classes = read_labelled_csv(
            path, request.target, task, request.features, classes
        )
        meta["features"] = list(features)
        return Data(title, task, X[:0], y[:0], X, y, classes=classes or None, meta=meta)
    table = datasets.load_csv(
        path,
        target=request.target,
        task=task,
        features=request.features,
        val_size=request.val_split,
        test_size=TEST_SIZE,
        seed=SPLIT_SEED,
        standardize=False,
        classes=classes,
    )
    has_val = request.val_split > 0
    meta["features"] = list(table.features)
    return Data(
        title,
        task,
        table.X_train,
        table.y_train,
        table.X_test,
        table.y_test,
        X_val=table.X_val if has_val else None,
        y_val=table.y_val if has_val else None,
        classes=table.classes or None,
        meta=meta,
        scaling=table.scaling,
    )


def _svmlight(request):
    path = request.name[len("svmlight:") :]
    task = request.task or "classification"
    classes = _classes(request, task)
    read = dict(n_features=request.n_features, zero_based=request.zero_based, classes=classes)
    X_val = y_val = None
    if request.split == "all":
        X, y, classes, zero_based = read_labelled(path, task, **read)
        X_train, y_train, X_test, y_test = X[:0], y[:0], X, y
    else:
        sparse = datasets.load_svmlight(
            path, task=task, val_size=request.val_split, test_size=TEST_SIZE, seed=SPLIT_SEED,
            **read,
        )  # fmt: skip
        X_train, y_train = sparse.X_train, sparse.y_train
        X_test, y_test = sparse.X_test, sparse.y_test
        if request.val_split > 0:
            X_val, y_val = sparse.X_val, sparse.y_val
        classes, zero_based = sparse.classes, sparse.zero_based
    n_features = X_test.shape[1]
    meta = {"task": task, "val_size": request.val_split, "path": path, "sparse": True,
            "n_features": n_features, "zero_based": bool(zero_based)}  # fmt: skip
    return Data(
        f"{os.path.basename(path)} (svmlight, {n_features:,} features, sparse, {task})",
        task,
        X_train,
        y_train,
        X_test,
        y_test,
        X_val=X_val,
        y_val=y_val,
        classes=classes or None,
        meta=meta,
    )


LOADERS = {
    "mnist": _mnist,
    "fashion-mnist": _fashion_mnist,
    "digits": _digits,
    "spiral": _spiral,
    "csv": _csv,
    "svmlight": _svmlight,
}


def load(request):
    """The data set ``request`` names, split into training, validation and test parts.

    Image and spiral data are classification sets whose validation part, with ``val_split``,
    comes out of the training part; a CSV table or an svmlight file splits all its rows at once.
    """
    kind = file_kind(request.name) or request.name
    if request.data_dir is not None and kind not in ("mnist", "fashion-mnist"):
        raise UsageError(f"--data-dir applies to mnist and fashion-mnist, not to {request.name!r}")
    if kind == "svmlight" and request.target:
        raise UsageError("--target applies to csv:PATH; an svmlight file's target is its labels")
    if kind not in ("csv", "svmlight") and (
        request.target or request.task not in (None, "classification")
    ):
        raise UsageError(
            f"--target and --task apply to csv:PATH; {request.name!r} is a classification data set"
        )
    if kind != "csv" and request.features is not None:
        raise UsageError(f"--features applies to csv:PATH, not to {request.name!r}")
    data = LOADERS[kind](request)
    if kind not in ("csv", "svmlight") and request.val_split > 0:
        data.X_train, data.X_val, data.y_train, data.y_val = datasets.split(
            data.X_train, data.y_train, request.val_split, SPLIT_SEED, stratify=True
        )
    data.meta = {"dataset": request.name, **data.meta}
    if data.classes is not None:
        data.meta["classes"] = list(data.classes)
    return data


__all__ = ["Data", "LOADERS", "Request", "load"]
