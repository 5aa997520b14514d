"""A synthetic text-like data set: sparse word counts whose topic words give the class away, most
of the time (:func:`make_bag_of_words`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_int, check_memory, check_number
from ..errors import InputError

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

_MAX_TOPIC_WORDS = 100  # topic words per class, at most
_BYTES_PER_WORD = 40  # the word draws, their documents, the sort keys and the counts


def make_bag_of_words(
    n_samples: int = 1000,
    n_features: int = 2000,
    n_classes: int = 4,
    words_per_doc: float = 50,
    seed: int = 0,
    *,
    topic_share: float = 0.2,
) -> tuple[csr_matrix, np.ndarray]:
    """Synthetic documents as sparse word counts, a class per document (no real text).

    The model of a document, drawn with a seeded generator:

    - The vocabulary is ``n_features`` words whose background frequency follows Zipf's law:
      word ``j`` is drawn with probability proportional to ``1 / (j + 1)``, so word 0 is the
      commonest ("the") and most words are rare.
    - Each class owns ``min(100, n_features // (2 n_classes))`` topic words, chosen at random
      from the vocabulary, no word for two classes.
    - A document of class ``c`` has ``max(1, Poisson(words_per_doc))`` words. Its topic share
      ``s`` is drawn uniformly from ``[0, 2 topic_share]``; each word is one of class ``c``'s
      topic words (uniformly) with probability ``s``, else a background word.

    A classifier learns it from the topic words, but not perfectly: some documents have few or
    none (a small ``s``), and every topic word also turns up in the background of the other
    classes. scikit-learn's ``LogisticRegression`` scores about 0.8 on held-out documents of
    ``make_bag_of_words(1000, 500, 4, 30)`` (chance: 0.25). Longer documents and a larger
    ``topic_share`` make it easier.

    Parameters
    ----------
    n_samples : int, default 1000
        Documents; the classes share them as evenly as possible, in random order.
    n_features : int, default 2000
        The vocabulary's size, at least ``2 n_classes``.
    n_classes : int, default 4
    words_per_doc : float, default 50
        The mean number of words of a document (Poisson), > 0.
    seed : int, default 0
        The same seed gives the same documents. It also picks the topic words: two seeds make
        two different tasks, not two samples of one (split one set for training and testing).
    topic_share : float, default 0.2
        The mean share of topic words in a document, in (0, 0.5].

    Returns
    -------
    X : scipy.sparse.csr_matrix of float32, shape (n_samples, n_features)
        Word counts, with sorted column indices, no duplicates and no stored zeros.
    y : ndarray of int64, shape (n_samples,)
        Classes ``0..n_classes-1``.

    Notes
    -----
    Memory and time grow with the number of words drawn (about ``n_samples * words_per_doc``)
    and the vocabulary, never with ``n_samples * n_features``.
    """
    n_samples = check_int(n_samples, "n_samples", low=1)
    n_features = check_int(n_features, "n_features", low=2)
    n_classes = check_int(n_classes, "n_classes", low=2)
    words_per_doc = check_number(words_per_doc, "words_per_doc", low=0, low_open=True)
    seed = check_int(seed, "seed", low=0)
    topic_share = check_number(topic_share, "topic_share", low=0, high=0.5, low_open=True)
    if n_samples < n_classes:
        raise InputError(
            f"n_samples must be at least n_classes ({n_classes}) so that every class has a "
            f"document; got {n_samples}"
        )
    if n_features < 2 * n_classes:
        raise InputError(
            f"n_features must be at least 2 * n_classes ({2 * n_classes}) so that every class "
            f"has topic words and there is a background; got {n_features}"
        )
    expected_words = n_samples * (words_per_doc + 1)
    check_memory(
        expected_words * _BYTES_PER_WORD + (n_samples + n_features) * 16,
        f"make_bag_of_words with {n_samples:,} documents of about {words_per_doc:g} words over "
        f"{n_features:,} features",
    )
    rng = np.random.default_rng(seed)
    n_topic = min(_MAX_TOPIC_WORDS, n_features // (2 * n_classes))
    topics = rng.choice(n_features, n_classes * n_topic, replace=False).reshape(n_classes, n_topic)
    y = np.arange(n_samples, dtype=np.int64) % n_classes
    rng.shuffle(y)
    lengths = np.maximum(rng.poisson(words_per_doc, n_samples), 1)
    shares = rng.uniform(0.0, 2.0 * topic_share, n_samples)
    topical = rng.binomial(lengths, shares)
    documents = np.arange(n_samples)

    # background words: Zipf, p_j = (1 / (j + 1)) / H, drawn by inverting the cumulative sum
    zipf = np.cumsum(1.0 / np.arange(1, n_features + 1))
    n_background = int(lengths.sum() - topical.sum())
    background = np.searchsorted(zipf, rng.random(n_background) * zipf[-1], side="right")
    np.minimum(background, n_features - 1, out=background)  # a draw of exactly zipf[-1]
    # topic words: uniform among the document's class's topic words
    topic_docs = np.repeat(documents, topical)
    picked = topics[y[topic_docs], rng.integers(0, n_topic, topic_docs.size)]

    rows = np.concatenate([np.repeat(documents, lengths - topical), topic_docs])
    words = np.concatenate([background, picked])
    del background, picked, topic_docs
    return _counts(rows, words, n_samples, n_features), y


def _counts(rows, words, n_samples, n_features):
    """The CSR matrix of how often each (row, word) pair occurs."""
    import scipy.sparse as sp

    if n_samples * n_features < 2**63:
        keys = rows.astype(np.int64) * n_features + words
        keys.sort()
    else:  # the key would overflow: sort by (row, word) pairs instead
        order = np.lexsort((words, rows))
        keys = None
        rows, words = rows[order], words[order]
    n = rows.size
    new = np.ones(n, bool)
    if keys is not None:
        new[1:] = keys[1:] != keys[:-1]
        first = np.flatnonzero(new)
        doc, word = np.divmod(keys[first], n_features)
    else:
        new[1:] = (rows[1:] != rows[:-1]) | (words[1:] != words[:-1])
        first = np.flatnonzero(new)
        doc, word = rows[first], words[first]
    counts = np.diff(np.append(first, n)).astype(np.float32)
    indptr = np.zeros(n_samples + 1, np.int64)
    np.cumsum(np.bincount(doc, minlength=n_samples), out=indptr[1:])
    index_dtype = np.int32 if max(n_features, counts.size) < 2**31 else np.int64
    X = sp.csr_matrix(
        (counts, word.astype(index_dtype), indptr.astype(index_dtype)),
        shape=(n_samples, n_features),
    )
    X.has_sorted_indices = True
    return X
