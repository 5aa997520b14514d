"""Data sets. MNIST travels with the package, so the headline job needs no network.

- :func:`load_mnist` (bundled) and :func:`load_fashion_mnist` (downloaded once, then cached) read
  the IDX format through one loader, :func:`load_idx`, which takes any folder of the four
  canonical files (module :mod:`.idx`; the downloader and cache folder are in :mod:`.download`,
  the two data sets in :mod:`.mnist`).
- :func:`load_digits` (scikit-learn's bundled 8x8 digits) and :func:`make_spiral` (interleaved
  arms) are small and need no files (:mod:`.toy`).
- :func:`load_csv` reads a numeric table, splits it and standardises its features
  (:mod:`.tabular`, reading the file in :mod:`.csvfile`).
- :func:`load_svmlight` reads sparse rows from an svmlight / libsvm file and splits them as
  :func:`load_csv` splits a table, without standardising them (:mod:`.svmlight`).
- :func:`make_bag_of_words` makes synthetic sparse word counts with classes (:mod:`.text`).
- :func:`split` and :func:`split_indices` are the one train/test split all of them use
  (:mod:`.split`); a sparse matrix stays sparse. :func:`validation_rows` is the rows it holds
  out for ``fit(..., validation_split=...)`` and ``fastnn train --val-split``.

Credits: MNIST, Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0.
Fashion-MNIST, Zalando Research, MIT licence. The 8x8 digits, the diabetes and the breast-cancer
tables ship with scikit-learn (BSD-3-Clause); their origins are given in its documentation.
"""

from .download import DataFileNotFoundError, DownloadError, data_home, fetch
from .idx import IDX_FILES as IDX_FILES
from .idx import IMAGES_MAGIC as IMAGES_MAGIC
from .idx import LABELS_MAGIC as LABELS_MAGIC
from .idx import MNIST_FILES as MNIST_FILES
from .idx import load_idx, read_idx
from .idx import load_idx_dataset as load_idx_dataset
from .mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_CONTENT_MD5,
    FASHION_MNIST_MD5,
    FASHION_MNIST_MIRRORS,
    MNIST_CONTENT_MD5,
    load_fashion_mnist,
    load_mnist,
)
from .split import split, split_indices, validation_rows
from .svmlight import SparseData, load_svmlight, read_svmlight
from .tabular import TASKS as TASKS
from .tabular import TabularData, load_csv, standardize
from .text import make_bag_of_words
from .toy import load_digits, make_spiral, write_sklearn_csv

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_CONTENT_MD5",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_MIRRORS",
    "MNIST_CONTENT_MD5",
    "DataFileNotFoundError",
    "DownloadError",
    "SparseData",
    "TabularData",
    "data_home",
    "fetch",
    "load_csv",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "load_svmlight",
    "make_bag_of_words",
    "make_spiral",
    "read_idx",
    "read_svmlight",
    "split",
    "split_indices",
    "standardize",
    "validation_rows",
    "write_sklearn_csv",
]
