"""
Tables from CSV files
=====================

Regression (a linear output, MSE) on scikit-learn's diabetes table and binary classification (a
sigmoid output, binary cross-entropy) on its breast-cancer table, both read from CSV files. The
rows stay raw: the model is given the training rows' statistics (``table.scaling``),
standardises the features (and the regression target) itself, answers in the target's units,
and keeps the statistics when it is saved.
"""

import tempfile
from pathlib import Path

import fastnn as fn
from fastnn import datasets, metrics, plots

out = Path(tempfile.mkdtemp())  # the CSV files and the saved model

# %%
# Regression: disease progression one year on, from age, sex, BMI, blood pressure and six
# serum measurements (442 patients). The model trains on standardised targets too.
table = datasets.load_csv(
    datasets.write_sklearn_csv("diabetes", out / "diabetes.csv"),
    target="progression",
    standardize=False,
)
model = fn.Sequential(fn.dense_stack([10, 16, 1]), loss="mse", seed=0)
model.scaling = table.scaling  # raw rows and targets in, predictions in the target's units out
model.fit(
    table.X_train,
    table.y_train,
    epochs=60,
    batch_size=16,
    optimizer=fn.SGD(lr=0.003, l2=1e-3),
    validation_data=(table.X_val, table.y_val),
    verbose=0,
)
report = metrics.report(model, table.X_test, table.y_test)
print("diabetes (regression, 10-16-1, MSE):")
print(f"  test MSE {report['mse']:.1f}  MAE {report['mae']:.2f}  R^2 {report['r2']:.4f}")
predictions = plots.plot_predictions(report["y_true"], report["y_pred"], r2=report["r2"])

# %%
# Binary classification: malignant or benign, from 30 measurements of cell nuclei (569 tumours).
table = datasets.load_csv(
    datasets.write_sklearn_csv("breast_cancer", out / "breast_cancer.csv"),
    target="diagnosis",
    task="binary",
    standardize=False,
)
model = fn.Sequential(fn.dense_stack([30, 16, 1]), loss="binary_cross_entropy", seed=0)
model.scaling = table.scaling
model.metadata = {"features": table.features, "classes": table.classes}
model.fit(
    table.X_train, table.y_train, epochs=20, batch_size=16, optimizer=fn.SGD(lr=0.05), verbose=0
)
report = metrics.report(model, table.X_test, table.y_test, class_names=table.classes)
print(f"breast cancer (binary, 30-16-1, sigmoid/BCE; label 1 = {table.classes[1]}):")
print(
    f"  test accuracy {report['accuracy']:.4f}  macro F1 {report['macro_f1']:.4f}  "
    f"ROC AUC {report['roc_auc']:.4f}  ECE {report['ece']:.4f}"
)
print(f"  confusion matrix (rows true, columns predicted): {report['confusion_matrix'].tolist()}")
confusion = plots.plot_confusion_matrix(report["confusion_matrix"], class_names=table.classes)
roc = plots.plot_roc_curve(report["fpr"], report["tpr"], auc=report["roc_auc"])
print(f"  saved with its scaling: {model.save(out / 'cancer.npz')}")
