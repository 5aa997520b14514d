"""
A three-class spiral
====================

The classic toy problem: three interleaved spiral arms that no straight line separates. A
2-32-3 ReLU network trained with SGD in mini-batches of 64 learns them; the report gives the
accuracy, macro precision, recall and F1, the expected calibration error and the top-2 accuracy,
and the figure shows the decision regions the network drew.
"""

import numpy as np
from matplotlib.figure import Figure

import fastnn as fn

X, y = fn.datasets.make_spiral(n_samples=3000, n_classes=3, noise=0.2, seed=0)
X_train, X_test, y_train, y_test = fn.datasets.split(X, y, test_size=0.2, seed=0, stratify=True)
model = fn.Sequential(fn.dense_stack([2, 32, 3]), loss="softmax_cross_entropy", seed=0)
model.fit(X_train, y_train, epochs=1000, batch_size=64, optimizer=fn.SGD(lr=0.1), verbose=0)

proba = model.predict_proba(X_test)
y_pred = proba.argmax(axis=1)
scores = fn.metrics.precision_recall_f1(y_test, y_pred)
print(f"test accuracy:   {fn.metrics.accuracy(y_test, y_pred):.4f}")
print(f"macro F1:        {scores['macro_f1']:.4f}")
print(f"ECE (15 bins):   {fn.metrics.expected_calibration_error(y_test, proba):.4f}")
print(f"top-2 accuracy:  {fn.metrics.top_k_accuracy(y_test, proba, k=2):.4f}")

# %%
# The class the network predicts at every point of the plane, with the test points on top.

xx, yy = np.meshgrid(np.linspace(-1.2, 1.2, 300), np.linspace(-1.2, 1.2, 300))
grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
regions = model.predict(grid).reshape(xx.shape)
figure = Figure(figsize=(5, 5), layout="constrained")
ax = figure.subplots()
ax.contourf(xx, yy, regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap="Pastel1", alpha=0.8)
ax.scatter(X_test[:, 0], X_test[:, 1], c=y_test, cmap="Set1", s=6, vmin=0, vmax=8)
ax.set_aspect("equal")
ax.set_title("decision regions and test points")
