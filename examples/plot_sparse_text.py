"""
Sparse text classification
==========================

Documents as word counts are mostly zeros: here 50,000 synthetic documents of about 60 words
over a vocabulary of 50,000 (:func:`fastnn.datasets.make_bag_of_words`, a SciPy CSR matrix),
weighted by TF-IDF. fastnn trains on the CSR matrix as it is: per sample, each step reads and
moves only the rows of the first layer's weights for that document's words; in batches, the
first layer's products run over the stored entries. Neither ever makes the matrix dense (it
would take 10 GB in float32).
"""

from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

import fastnn as fn

X, y = fn.datasets.make_bag_of_words(50000, 50000, n_classes=4, words_per_doc=60, seed=0)
X = TfidfTransformer().fit_transform(X)
(X_train, X_test, y_train, y_test) = fn.datasets.split(X, y, test_size=0.2, seed=0)
print(f"{X.shape[0]:,} documents x {X.shape[1]:,} words, {X.nnz / X.shape[0]:.0f} stored "
      f"words per document ({100 * X.nnz / (X.shape[0] * X.shape[1]):.2f}% nonzero)")  # fmt: skip

# %%
# Per sample and in batches
# -------------------------

for batch_size, lr in ((1, 0.05), (32, 1.0)):
    model = fn.Sequential(fn.dense_stack([X.shape[1], 64, 4]), seed=0)
    history = model.fit(X_train, y_train, epochs=5, batch_size=batch_size, optimizer=fn.SGD(lr=lr),
                        validation_data=(X_test, y_test), verbose=0)  # fmt: skip
    print(f"batch size {batch_size:>2}: test accuracy {history.history['val_accuracy'][-1]:.4f}, "
          f"{sum(history.history['epoch_time']):.2f} s for 5 epochs")  # fmt: skip

# %%
# A linear baseline on the same rows. The synthetic documents are nearly linearly separable by
# construction, so logistic regression does about as well here: the point of this example is
# training on sparse rows, and how little time an epoch takes.

baseline = LogisticRegression(max_iter=200).fit(X_train, y_train)
print(f"logistic regression: test accuracy {baseline.score(X_test, y_test):.4f}")

report = fn.metrics.report(model, X_test, y_test)
figure = fn.plots.plot_confusion_matrix(report["confusion_matrix"])
