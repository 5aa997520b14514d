"""
MNIST training curves
=====================

One network, two ways to train it: per-sample SGD (fastnn's fastest mode: one update per image)
and mini-batches of 128 with momentum, L2 and a decaying learning rate. The last 10,000 training
images are held out, the validation loss and accuracy are tracked after every epoch, and
:func:`fastnn.plots.plot_history` draws both curves.
"""

import fastnn as fn

(X_train, y_train), (X_test, y_test) = fn.datasets.load_mnist()
X_val, y_val = X_train[-10000:], y_train[-10000:]
X_train, y_train = X_train[:-10000], y_train[:-10000]

# %%
# Per sample
# ----------
# ``batch_size=1`` runs every epoch inside one compiled loop that skips the zero pixels.

model = fn.Sequential(fn.dense_stack([784, 128, 10]), loss="softmax_cross_entropy", seed=0)
history = model.fit(
    X_train,
    y_train,
    epochs=3,
    batch_size=1,
    optimizer=fn.SGD(lr=0.01, decay=5e-5),
    validation_data=(X_val, y_val),
    verbose=2,
)
print(f"test accuracy: {model.evaluate(X_test, y_test)['accuracy']:.4f}")
per_sample = fn.plots.plot_history(history)

# %%
# Mini-batches with momentum, keeping the best epoch
# --------------------------------------------------
# Two hidden layers, batches of 128, momentum 0.9, a learning rate that decays with the updates
# and an L2 penalty on the weights. :class:`fastnn.EarlyStopping` watches the validation
# accuracy and, with ``restore_best_weights=True``, ends training with the best epoch's weights
# rather than the last one's.

model = fn.Sequential(fn.dense_stack([784, 128, 128, 10]), loss="softmax_cross_entropy", seed=0)
history = model.fit(
    X_train,
    y_train,
    epochs=6,
    batch_size=128,
    optimizer=fn.SGD(lr=0.05, momentum=0.9, decay=1e-4, l2=1e-5),
    validation_data=(X_val, y_val),
    callbacks=[fn.EarlyStopping(monitor="val_accuracy", patience=2, restore_best_weights=True)],
    verbose=2,
)
print(f"best validation accuracy (the weights kept): {max(history.history['val_accuracy']):.4f}")
print(f"test accuracy: {model.evaluate(X_test, y_test)['accuracy']:.4f}")
print(f"training time: {sum(history.history['epoch_time']):.1f} s")
mini_batch = fn.plots.plot_history(history)
