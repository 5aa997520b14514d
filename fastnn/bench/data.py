"""What a benchmark trains on: MNIST's dense images, or synthetic bag-of-words documents as CSR
rows. Each kind also carries the defaults of its benchmark (the network, the learning rates,
the slices of the slow jobs), so that a run names only what it changes.

A kind's :meth:`~Mnist.load` returns a dict of ``X``, ``y`` (the training rows, in the order the
kind says), ``X_test``, ``y_test`` and ``description`` (one line for the report).
"""

import math

import numpy as np

from .._validation import check_int, check_number
from ..errors import InputError

# the learning rates of each optimizer, per regime, unless a run says otherwise
MNIST_LRS = {
    "sgd": {"per-sample": 0.01, "batch": 0.1},
    "adam": {"per-sample": 0.0005, "batch": 0.001},
}
BAG_OF_WORDS_LRS = {
    "sgd": {"per-sample": 0.05, "batch": 0.1},
    "adam": {"per-sample": 0.001, "batch": 0.001},
}
BAG_OF_WORDS = {"documents": 50000, "features": 100000, "classes": 20, "words": 100}


class Mnist:
    """One epoch of MNIST: 784 pixels in [0, 1] (float32), 10 classes, dense rows.

    fastnn shuffles (``shuffle=True``) and hands its order to PyTorch and JAX; scikit-learn
    shuffles with its own generator. Every job warms up with a whole untimed epoch.
    """

    name = "mnist"
    title = "MNIST"
    n_in, n_out = 784, 10
    train_rows = 60000
    sparse = False
    shuffle = True
    hidden = (128,)
    lrs = MNIST_LRS
    peer_samples = 6000
    slow_peers = ("torch", "sklearn")  # per sample, these train on the first peer_samples rows
    torch_threads = (1, 2)
    warmup_samples = None  # a whole epoch
    jax_loop = False  # JAX: the jitted epoch only, not also a jitted step in a Python loop

    def load(self, seed, data=None):
        if data is None:
            from ..datasets import load_mnist

            data = load_mnist()
        (X, y), (X_test, y_test) = data
        return {
            "X": X,
            "y": y,
            "X_test": X_test,
            "y_test": y_test,
            "description": f"MNIST, {len(y):,} training images, {len(y_test):,} test images",
        }

    def settings(self):
        return {"name": self.name, "title": self.title}


class BagOfWords:
    """One epoch of synthetic documents (:func:`fastnn.datasets.make_bag_of_words`) as CSR rows
    of word counts, split into training and test rows (:func:`fastnn.datasets.split_indices`).

    The training rows stay in the split's shuffled order, and every implementation visits them
    in that order without shuffling again (scikit-learn included), so that from the same
    weights they all reach the same weights. Every job warms up on its first
    ``warmup_samples`` rows: a whole untimed epoch of a slow peer would take minutes.

    Parameters
    ----------
    documents : int, default 50000
        Documents generated, training and test rows together.
    features : int, default 100000
        The vocabulary: the network's input width.
    classes : int, default 20
    words : float, default 100
        The mean number of words of a document.
    test_size : float, default 0.2
        The share of the documents kept for testing.
    """

    name = "bag-of-words"
    title = "bag-of-words"
    sparse = True
    shuffle = False
    hidden = (256,)
    lrs = BAG_OF_WORDS_LRS
    # per sample, scikit-learn and JAX write every first-layer weight at every step; PyTorch's
    # sparse gradient touches only the rows' words, as fastnn does
    peer_samples = 1000
    slow_peers = ("jax", "sklearn")
    torch_threads = (2,)
    warmup_samples = 64
    jax_loop = True

    def __init__(self, documents=BAG_OF_WORDS["documents"], features=BAG_OF_WORDS["features"],
                 classes=BAG_OF_WORDS["classes"], words=BAG_OF_WORDS["words"],
                 test_size=0.2):  # fmt: skip
        self.documents = check_int(documents, "documents", low=2)
        self.features = check_int(features, "features", low=2)
        self.classes = check_int(classes, "classes", low=2)
        self.words = check_number(words, "words", low=0, low_open=True)
        self.test_size = check_number(test_size, "test_size", low=0, high=1, low_open=True,
                                      high_open=True)  # fmt: skip
        if self.features < 2 * self.classes:
            raise InputError(f"features must be at least twice classes ({2 * self.classes}); "
                             f"got {self.features}")  # fmt: skip
        # as scikit-learn's train_test_split (behind split_indices) rounds
        self.train_rows = self.documents - math.ceil(self.test_size * self.documents)
        if self.train_rows < 1 or self.documents < self.classes:
            raise InputError(f"documents must leave training rows for every class; got "
                             f"{self.documents}")  # fmt: skip

    @property
    def n_in(self):
        return self.features

    @property
    def n_out(self):
        return self.classes

    def load(self, seed, data=None):
        import scipy.sparse as sp

        if data is None:
            from ..datasets import make_bag_of_words, split_indices

            X, y = make_bag_of_words(self.documents, self.features, self.classes, self.words,
                                     seed=seed)  # fmt: skip
            train, test = split_indices(X.shape[0], self.test_size, seed)
            data = (X[train], y[train]), (X[test], y[test])  # the training rows in that order
        (X, y), (X_test, y_test) = data
        X, X_test = (sp.csr_matrix(part, dtype=np.float32) for part in (X, X_test))
        for part in (X, X_test):
            part.sort_indices()
        nnz = np.diff(X.indptr)
        description = (
            f"bag-of-words, fastnn.datasets.make_bag_of_words(documents={self.documents}, "
            f"features={self.features}, classes={self.classes}, words={self.words:g}, "
            f"seed={seed}) (synthetic), split {1 - self.test_size:.0%}/{self.test_size:.0%}: "
            f"{X.shape[0]:,} training rows, {X_test.shape[0]:,} test rows; "
            f"{nnz.mean() if len(nnz) else 0:.1f} stored entries per training row (at most "
            f"{nnz.max(initial=0)}); training CSR {csr_bytes(X) / 2**20:.1f} MiB"
        )
        y, y_test = np.asarray(y, np.int64), np.asarray(y_test, np.int64)
        return {"X": X, "y": y, "X_test": X_test, "y_test": y_test, "description": description}

    def settings(self):
        return {"name": self.name, "title": self.title, "documents": self.documents,
                "features": self.features, "classes": self.classes, "words": self.words,
                "test_size": self.test_size}  # fmt: skip


KINDS = {"mnist": Mnist, "bag-of-words": BagOfWords}


def data_kind(dataset):
    """The kind for ``dataset``: a name of :data:`KINDS` (with its defaults), or a kind."""
    if isinstance(dataset, (Mnist, BagOfWords)):
        return dataset
    if isinstance(dataset, str) and dataset in KINDS:
        return KINDS[dataset]()
    raise InputError(f"dataset must be one of {', '.join(KINDS)} or a kind of fastnn.bench.data; "
                     f"got {dataset!r}")  # fmt: skip


def csr_bytes(X):
    """The bytes of a CSR matrix: its values, column indices and row pointers."""
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def padded_rows(X, width=None):
    """``(values, columns)`` of shape (n_rows, width): each CSR row's stored entries, padded
    with zero values at column 0 up to ``width`` (default: the longest row's, at least 1).

    A zero value changes neither a row's product with a matrix nor its gradient: jit's fixed
    shapes, at no cost to the numbers.
    """
    nnz = np.diff(X.indptr)
    width = max(1, int(nnz.max(initial=0))) if width is None else width
    rows = np.repeat(np.arange(X.shape[0]), nnz)
    slots = np.arange(X.nnz) - np.repeat(X.indptr[:-1], nnz)
    values = np.zeros((X.shape[0], width), np.float32)
    columns = np.zeros((X.shape[0], width), np.int32)
    values[rows, slots] = X.data
    columns[rows, slots] = X.indices
    return values, columns


__all__ = [
    "BAG_OF_WORDS",
    "BAG_OF_WORDS_LRS",
    "KINDS",
    "MNIST_LRS",
    "BagOfWords",
    "Mnist",
    "csr_bytes",
    "data_kind",
    "padded_rows",
]
