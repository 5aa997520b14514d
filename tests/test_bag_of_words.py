"""make_bag_of_words: synthetic sparse word counts with classes, and the split that keeps sparse
rows sparse."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastnn import datasets
from fastnn.errors import InputError, InputTypeError

SMALL = dict(n_samples=400, n_features=300, n_classes=4, words_per_doc=20)


def test_csr_counts_of_float32_and_int64_labels():
    X, y = datasets.make_bag_of_words(**SMALL, seed=0)
    assert isinstance(X, sp.csr_matrix) and X.dtype == np.float32 and X.shape == (400, 300)
    assert y.dtype == np.int64 and y.shape == (400,) and set(np.unique(y)) == {0, 1, 2, 3}
    assert X.has_canonical_format  # sorted indices, no duplicates
    canonical = X.copy()
    canonical.sum_duplicates()
    canonical.sort_indices()
    assert canonical.nnz == X.nnz and np.array_equal(canonical.indices, X.indices)
    assert (X.data >= 1).all() and np.array_equal(X.data, np.round(X.data))  # counts, no zeros


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_seed_gives_the_same_documents(seed):
    X1, y1 = datasets.make_bag_of_words(**SMALL, seed=seed)
    X2, y2 = datasets.make_bag_of_words(**SMALL, seed=seed)
    assert np.array_equal(y1, y2) and (X1 != X2).nnz == 0
    X3, y3 = datasets.make_bag_of_words(**SMALL, seed=seed + 10)
    assert (X1 != X3).nnz > 0 and not np.array_equal(y1, y3)


def test_classes_share_the_documents_evenly():
    _, y = datasets.make_bag_of_words(103, 100, 4, 10, seed=0)
    counts = np.bincount(y, minlength=4)
    assert counts.sum() == 103 and counts.max() - counts.min() <= 1
    assert len(set(y[:8].tolist())) > 1  # shuffled, not sorted by class


@pytest.mark.parametrize("words_per_doc", [5, 40])
def test_documents_have_about_words_per_doc_words(words_per_doc):
    X, _ = datasets.make_bag_of_words(2000, 1000, 3, words_per_doc, seed=0)
    words = np.asarray(X.sum(axis=1)).ravel()
    assert words.min() >= 1
    assert abs(words.mean() - words_per_doc) < 0.05 * words_per_doc + 0.1
    assert 0 < words.std() < words_per_doc  # lengths vary (Poisson)
    assert (np.diff(X.indptr) <= words).all()  # distinct words, at most the words drawn


def test_background_words_follow_zipf():
    X, _ = datasets.make_bag_of_words(2000, 5000, 2, 50, seed=0)
    frequency = np.asarray(X.sum(axis=0)).ravel()
    assert frequency[0] > frequency[1] > frequency[10] > np.median(frequency)
    # word 0 takes about 1 / H(5000) of the background words (H: the harmonic number)
    harmonic = np.sum(1.0 / np.arange(1, 5001))
    assert frequency[0] / frequency.sum() == pytest.approx(1 / harmonic, rel=0.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_linear_model_learns_it_well_but_not_perfectly(seed):
    from sklearn.linear_model import LogisticRegression

    X, y = datasets.make_bag_of_words(1000, 500, 4, 30, seed=seed)
    X_train, X_test, y_train, y_test = datasets.split(X, y, 0.3, seed=0, stratify=True)
    assert sp.issparse(X_train) and X_train.shape == (700, 500)
    score = LogisticRegression(max_iter=500).fit(X_train, y_train).score(X_test, y_test)
    assert 0.5 < score < 0.98, score  # chance is 0.25


def test_a_wide_vocabulary_is_never_dense():
    X, y = datasets.make_bag_of_words(3000, 2_000_000, 10, 10, seed=0)  # dense: 24 GB
    assert X.shape == (3000, 2_000_000) and X.nnz <= 3000 * 40 and y.shape == (3000,)


def test_split_keeps_sparse_rows_sparse_and_picks_the_dense_rows():
    X, y = datasets.make_bag_of_words(60, 50, 3, 8, seed=0)
    got = datasets.split(X, y, 0.25, seed=3, stratify=True)
    dense = datasets.split(X.toarray(), y, 0.25, seed=3, stratify=True)
    for sparse_part, dense_part in zip(got[:2], dense[:2]):
        assert isinstance(sparse_part, sp.csr_matrix)
        assert np.array_equal(sparse_part.toarray(), dense_part)
    assert np.array_equal(got[2], dense[2]) and np.array_equal(got[3], dense[3])
    csc_parts = datasets.split(sp.csc_array(X), y, 0.25, seed=3)
    assert csc_parts[0].format == "csr"


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(n_samples=0), InputError, "n_samples must be an integer >= 1; got 0"),
        (dict(n_samples=2.5), InputTypeError, "n_samples must be an integer; got 2.5"),
        (dict(n_samples=True), InputTypeError, "n_samples must be an integer"),
        (dict(n_classes=1), InputError, "n_classes must be an integer >= 2; got 1"),
        (dict(n_samples=3, n_classes=4), InputError, "n_samples must be at least n_classes (4)"),
        (dict(n_features=7), InputError, "n_features must be at least 2 * n_classes (8)"),
        (dict(n_features="1000"), InputTypeError, "n_features must be an integer"),
        (dict(words_per_doc=0), InputError, "words_per_doc must be a finite number > 0"),
        (dict(words_per_doc=float("nan")), InputError, "words_per_doc must be a finite"),
        (dict(words_per_doc="many"), InputTypeError, "words_per_doc must be a real number"),
        (dict(seed=-1), InputError, "seed must be an integer >= 0; got -1"),
        (dict(topic_share=0.7), InputError, "topic_share must be a finite number > 0 and <= 0.5"),
        (dict(n_samples=10**12, words_per_doc=100), InputError, "would need"),
    ],
)
def test_bad_arguments_are_one_line_errors_naming_them(changes, error, message):
    with pytest.raises(error) as info:
        datasets.make_bag_of_words(**{**SMALL, "seed": 0, **changes})
    assert message in str(info.value) and "\n" not in str(info.value)
