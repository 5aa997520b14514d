"""MNIST, 784-128-128-10 with inputs in [-1, 1]: mini-batches of 128, momentum, learning-rate
decay and L2, validation tracked every epoch, and the loss/accuracy plot.

Run: python examples/mnist_minibatch.py    (writes examples/output/mnist_history.png)
"""

from pathlib import Path

import fastnn as fn
from fastnn import datasets, plots

(X_train, y_train), (X_test, y_test) = datasets.load_mnist()
X_train, X_test = 2 * X_train - 1, 2 * X_test - 1  # [0, 1] -> [-1, 1]
X_val, y_val = X_train[-10000:], y_train[-10000:]  # the last 10,000 for validation
X_train, y_train = X_train[:-10000], y_train[:-10000]

model = fn.Sequential(
    [
        fn.Dense(784, 128, activation="relu"),
        fn.Dense(128, 128, activation="relu"),
        fn.Dense(128, 10),
    ],
    loss="softmax_cross_entropy",
    backend="numba",
    seed=0,
)
optimizer = fn.SGD(lr=0.05, momentum=0.9, decay=1e-4, l2=1e-5)
history = model.fit(
    X_train,
    y_train,
    epochs=15,
    batch_size=128,
    optimizer=optimizer,
    validation_data=(X_val, y_val),
    verbose=2,
)
out = Path(__file__).parent / "output"
plots.plot_history(history, out / "mnist_history.png")
print(f"best validation accuracy: {max(history.history['val_accuracy']):.4f}")
print(f"test accuracy: {model.evaluate(X_test, y_test)['accuracy']:.4f}")
print(
    f"training time: {sum(history.history['epoch_time']):.1f}s; plot: {out / 'mnist_history.png'}"
)
