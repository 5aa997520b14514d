"""
A confusion matrix on the 8x8 digits
====================================

scikit-learn's 1,797 handwritten digits (8x8 pixels), a 64-32-10 network trained per sample, the
metrics report of :func:`fastnn.metrics.report` (accuracy, macro F1, top-2 accuracy, calibration
error, the classification report) and the confusion matrix, then the prediction of one new digit
drawn by hand.
"""

import numpy as np

import fastnn as fn

(X_train, y_train), (X_test, y_test) = fn.datasets.load_digits(test_size=0.2, seed=0)
model = fn.Sequential(fn.dense_stack([64, 32, 10]), loss="softmax_cross_entropy", seed=0)
model.fit(X_train, y_train, epochs=20, batch_size=1, optimizer=fn.SGD(lr=0.01), verbose=0)

report = fn.metrics.report(model, X_test, y_test)
print(fn.metrics.format_report(report))

# %%
# Rows are the true digits, columns the predicted ones: what is off the diagonal is a mistake.

figure = fn.plots.plot_confusion_matrix(report["confusion_matrix"])

# %%
# A new digit, drawn as 8x8 grey levels (0 is the background, 16 the ink), as in the data set.

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
print(f"new digit: predicted {model.predict(x)[0]} with probability {proba.max():.3f}")
