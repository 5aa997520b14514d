"""scikit-learn's 8x8 digits, 64-32-10 (ReLU, softmax), 80/20 split: test metrics, confusion
matrix, classification report, and the prediction of a single new digit.

Run: python examples/digits.py    (writes examples/output/digits_confusion_matrix.png)
"""

from pathlib import Path

import numpy as np

import fastnn as fn
from fastnn import datasets, metrics, plots

(X_train, y_train), (X_test, y_test) = datasets.load_digits(test_size=0.2, seed=0)
model = fn.Sequential(
    [fn.Dense(64, 32, activation="relu"), fn.Dense(32, 10)], loss="softmax_cross_entropy", seed=0
)
model.fit(X_train, y_train, epochs=20, batch_size=1, optimizer=fn.SGD(lr=0.01), verbose=0)

report = metrics.report(model, X_test, y_test)
print(metrics.format_report(report))
out = Path(__file__).parent / "output"
plots.plot_confusion_matrix(report["confusion_matrix"], out / "digits_confusion_matrix.png")

# A new digit, drawn by hand as 8x8 grey levels (0 = background, 16 = ink), like the data set.
seven = np.array(
    [
        [0, 4, 12, 16, 16, 16, 10, 0],
        [0, 3, 8, 8, 9, 16, 9, 0],
        [0, 0, 0, 0, 9, 15, 2, 0],
        [0, 0, 0, 2, 15, 7, 0, 0],
        [0, 0, 0, 9, 14, 1, 0, 0],
        [0, 0, 2, 16, 6, 0, 0, 0],
        [0, 0, 7, 15, 1, 0, 0, 0],
        [0, 0, 11, 9, 0, 0, 0, 0],
    ]
)
x = (seven / 16.0).reshape(1, 64)
proba = model.predict_proba(x)[0]
print(f"\nnew digit: predicted {model.predict(x)[0]} with probability {proba.max():.3f}")
