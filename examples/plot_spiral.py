"""A 3-class spiral, 2-32-3 (ReLU, softmax), SGD at lr 0.1 with mini-batches of 64: accuracy,
macro precision, recall and F1, expected calibration error and top-2 accuracy.

Run: python examples/spiral.py
"""

from sklearn.model_selection import train_test_split

import fastnn as fn
from fastnn import datasets, metrics

X, y = datasets.make_spiral(n_samples=3000, n_classes=3, noise=0.2, seed=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
model = fn.Sequential(
    [fn.Dense(2, 32, activation="relu"), fn.Dense(32, 3)], loss="softmax_cross_entropy", seed=0
)
model.fit(X_train, y_train, epochs=1000, batch_size=64, optimizer=fn.SGD(lr=0.1), verbose=0)

proba = model.predict_proba(X_test)
y_pred = proba.argmax(axis=1)
scores = metrics.precision_recall_f1(y_test, y_pred)
print(f"test accuracy:   {metrics.accuracy(y_test, y_pred):.4f}")
print(f"macro precision: {scores['macro_precision']:.4f}")
print(f"macro recall:    {scores['macro_recall']:.4f}")
print(f"macro F1:        {scores['macro_f1']:.4f}")
print(f"ECE (15 bins):   {metrics.expected_calibration_error(y_test, proba):.4f}")
print(f"top-2 accuracy:  {metrics.top_k_accuracy(y_test, proba, k=2):.4f}")
