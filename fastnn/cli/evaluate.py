"""``fastnn evaluate``: a saved model's metrics on the test rows of a data set (by default the
one it was trained on, split the same way), or on every row of a CSV file."""

from .._codes import CLASSIFICATION_LOSSES
from ..serialization import TASK_LOSSES
from .data import Request, load
from .options import (
    BACKEND,
    MODEL,
    PLOTS,
    UsageError,
    add_data_options,
    column_names,
    load_model,
    plots_folder,
)

DESCRIPTION = (
    "Load a model saved by `fastnn train --save` and print its metrics on the test rows of a "
    "data set: loss, accuracy, macro precision/recall/F1, top-2 accuracy (more than 2 classes), "
    "ROC AUC (binary), expected calibration error, the classification report and the confusion "
    "matrix; or MSE, MAE and R^2 for regression, in the target's units."
)


def add_options(parser):
    MODEL.add(parser)
    add_data_options(parser, for_training=False)
    parser.add_argument(
        "--split",
        choices=("test", "all"),
        default="test",
        help="csv:PATH and svmlight:PATH only: the test rows of the same split as training "
        "(default), or every row of the file, unsplit (a file of new rows: a few rows, or rows "
        "of one class, are fine; labels are read as the model's classes, and svmlight indices "
        "with the model's width and base)",
    )
    BACKEND.add(parser)
    PLOTS.add(parser, help="write the plots that fit the task into DIR (created if needed)")


# The task a file is read for when neither --task nor the model says: the one its loss implies.
_TASK_OF_LOSS = {
    "softmax_cross_entropy": "classification",
    "binary_cross_entropy": "binary",
    "mse": "regression",
    "poisson": "regression",
}


def _request(args, model):
    """The data set to evaluate on: the options, else what the model recorded. A file's rows
    are read as the model needs them: its classes, and for svmlight its width and index base."""
    meta = model.metadata
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise UsageError(f"{args.model} does not record its data set; name one with --dataset")
    features = column_names(args.features) if args.features is not None else None
    if not name.startswith(("csv:", "svmlight:")):
        if args.split == "all":
            raise UsageError("--split all applies to csv:PATH and svmlight:PATH data sets")
        return Request(name, args.data_dir, args.target, args.task, features)
    task = args.task or meta.get("task") or _TASK_OF_LOSS[model.loss]
    if model.loss not in TASK_LOSSES[task]:
        raise UsageError(
            f"{args.model} has loss {model.loss}, which does not fit a {task} task; evaluate it "
            f"with --task {_TASK_OF_LOSS[model.loss]}"
        )
    return Request(
        name,
        args.data_dir,
        args.target or meta.get("target"),
        task,
        features or meta.get("features"),
        meta.get("val_size") or 0.0,  # the same split as training
        args.split,
        classes=meta.get("classes") if model.loss in CLASSIFICATION_LOSSES else None,
        n_features=model.layers[0].n_in,
        zero_based="auto" if meta.get("zero_based") is None else meta["zero_based"],
    )


def run(args):
    from .. import metrics

    if args.plots is not None:
        plots_folder(args.plots)
    model = load_model(args.model, args.backend)
    meta = model.metadata
    request = _request(args, model)
    data = load(request)
    trained_on = meta.get("classes")
    if trained_on and data.classes and data.classes != trained_on:
        raise UsageError(
            f"the target of {request.name.partition(':')[2]} holds the classes {data.classes}, "
            f"but the model was trained on {trained_on}"
        )
    n_in = model.layers[0].n_in
    if data.X_test.shape[1] != n_in:
        raise UsageError(
            f"{request.name} has {data.X_test.shape[1]} features per sample, but the model "
            f"takes {n_in}"
        )
    print(f"model: {model.describe()}")
    print(f"data: {data.title}, {data.X_test.shape[0]:,} test {data.unit}")
    classes = trained_on or data.classes
    report = metrics.report(model, data.X_test, data.y_test, class_names=classes)
    print(metrics.format_report(report))
    if args.plots:
        from .. import plots

        paths = plots.plot_report(None, report, args.plots, class_names=classes)
        print(f"plots: {', '.join(paths)}")
    return 0
