"""MNIST, 784-128-10 (ReLU, softmax), per-sample SGD (lr 0.05, decay 5e-5) for 3 epochs on
the numba backend.

Run: python examples/mnist_sgd.py
"""

import fastnn as fn
from fastnn import datasets

(X_train, y_train), (X_test, y_test) = datasets.load_mnist()
model = fn.Sequential(
    [fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)],
    loss="softmax_cross_entropy",
    backend="numba",
    seed=0,
)
history = model.fit(
    X_train, y_train, epochs=3, batch_size=1, optimizer=fn.SGD(lr=0.05, decay=5e-5), verbose=2
)
print(f"epoch times (s): {', '.join(f'{t:.2f}' for t in history.history['epoch_time'])}")
print(f"test accuracy after 3 epochs: {model.evaluate(X_test, y_test)['accuracy']:.4f}")
