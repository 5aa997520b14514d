"""``fastnn train``: build a dense network for a data set, train it with SGD, Adam or L-BFGS,
report its test metrics, and keep it (``--save``) with what ``evaluate`` and ``predict`` need.

Everything the options decide is checked before the data is loaded or a buffer allocated: the
numbers, the options that apply to the chosen optimizer (:mod:`.optimizer`), the destinations of
``--save`` and ``--plots``, and the memory the network and its batches will take. A Ctrl-C
during SGD or Adam saves the model as of its last completed epoch.
"""

import math
import os
import time

from .._codes import CLASSIFICATION_LOSSES
from .._memory import check_training
from ..errors import TrainingInterrupted
from ..layers import dense_stack
from ..lbfgs import LBFGS
from ..model import DTYPES, Sequential
from ..serialization import TASK_LOSSES
from . import optimizer as optimizer_options
from .data import Request, load
from .options import (
    BACKEND,
    BATCH_SIZE,
    HIDDEN,
    PLOTS,
    QUIET,
    SEED,
    Interrupted,
    UsageError,
    add_data_options,
    at_least,
    column_names,
    file_kind,
    fraction,
    not_an_input,
    output_file,
    plots_folder,
    widths,
)

DESCRIPTION = (
    "Train a dense network with SGD, Adam or L-BFGS, then report the test metrics. Defaults: "
    "MNIST (bundled), 784-128-10, ReLU, softmax cross-entropy, float32, per-sample SGD at lr "
    "0.01, one epoch, numba backend. Each epoch shows a progress bar with the running loss, "
    "then one line: epoch seconds, training loss and accuracy, and the validation loss and "
    "accuracy when --val-split is set; L-BFGS (full batch, --epochs iterations at most) shows "
    "one line per iteration instead. Options that do not apply to the chosen --optimizer are "
    "refused. With --save, Ctrl-C during SGD or Adam saves the model as of the last completed "
    "epoch."
)
LOSS_FOR_TASK = {
    "classification": "softmax_cross_entropy",
    "binary": "binary_cross_entropy",
    "regression": "mse",
}
LOSSES_FOR_TASK = TASK_LOSSES


def add_options(parser):
    data = parser.add_argument_group("data")
    add_data_options(data, for_training=True)
    data.add_argument(
        "--val-split",
        type=fraction,
        default=0.0,
        metavar="FRACTION",
        help="fraction held out for validation, evaluated after every epoch: of the training "
        "set for mnist, fashion-mnist, digits and spiral, of all rows for csv:PATH and "
        "svmlight:PATH (default: 0, no validation)",
    )
    _add_network_options(parser.add_argument_group("network"))
    _add_training_options(parser.add_argument_group("training"))
    output = parser.add_argument_group("output")
    output.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write the trained model to PATH (.npz; checked before training), with what "
        "predict and evaluate need (data set, feature names and scaling, class names); Ctrl-C "
        "during SGD or Adam training saves the last completed epoch",
    )
    PLOTS.add(output)
    QUIET.add(output, help="no progress bar (the per-epoch or per-iteration lines remain)")


def _add_network_options(group):
    HIDDEN.add(group)
    group.add_argument(
        "--activation",
        choices=("relu", "sigmoid", "tanh"),
        default="relu",
        help="activation of the hidden layers (default: relu)",
    )
    group.add_argument(
        "--loss",
        choices=sorted(LOSS_FOR_TASK.values()),
        default=None,
        help="loss (default: softmax_cross_entropy for classification, binary_cross_entropy "
        "for binary, mse for regression); binary tasks may also use softmax_cross_entropy",
    )
    group.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="parameter dtype (default: float32)"
    )
    SEED.add(
        group,
        help="seed for the initial weights and the shuffles (default: 0); data splits always "
        "use seed 0, so that evaluate finds the same test rows",
    )


def _add_training_options(group):
    group.add_argument(
        "--epochs",
        type=int,
        default=1,
        help="passes over the training set, >= 1; with --optimizer lbfgs, the most L-BFGS "
        "iterations (default: 1)",
    )
    BATCH_SIZE.add(
        group,
        default=None,
        help="samples per update, sgd and adam; 1 is per-sample training, more than the "
        "training rows is one batch of all of them (default: 1)",
    )
    optimizer_options.add_options(group)
    BACKEND.add(group, help="compute backend (default: $FASTNN_BACKEND, else numba)")


def _check_destinations(args):
    """``--save`` and ``--plots`` can be written, and plotting can be done, before any work."""
    if args.save is not None:
        if os.path.isdir(args.save) or args.save.endswith(("/", os.sep)):
            raise UsageError(f"--save {args.save}: is a folder; name a file in it")
        args.save = output_file(_with_suffix(args.save), "--save")
        if file_kind(args.dataset):
            data_file = args.dataset.partition(":")[2]
            not_an_input(args.save, "--save", {"the data file": data_file})
    if args.plots is not None:
        plots_folder(args.plots)


def _with_suffix(path):
    return path if path.endswith(".npz") else path + ".npz"  # what Sequential.save writes


def _build_model(args, data):
    loss = args.loss or LOSS_FOR_TASK[data.task]
    allowed = LOSSES_FOR_TASK[data.task]
    if loss not in allowed:
        raise UsageError(
            f"--loss {loss} does not fit a {data.task} task; use {' or '.join(allowed)}"
        )
    if loss == "softmax_cross_entropy":
        n_out = len(data.classes) if data.classes else int(data.y_train.max()) + 1
    else:
        n_out = 1
    layer_widths = [data.X_train.shape[1], *args.hidden, n_out]
    input_width = _stored_width(data.X_train)
    model = Sequential(
        dense_stack(layer_widths, args.activation),
        loss=loss,
        backend=args.backend,
        dtype=args.dtype,
        seed=args.seed,
    )
    _check_memory(model, layer_widths, args.batch_size, args.optimizer, input_width)
    model.metadata = data.meta
    model.scaling = data.scaling
    return model


def _stored_width(X):
    """The values a row of ``X`` stores: its width, or for a sparse matrix its mean number of
    stored entries (rounded up)."""
    if hasattr(X, "nnz"):  # scipy.sparse: the rows are read as stored, never made dense
        return max(1, math.ceil(X.nnz / max(X.shape[0], 1)))
    return X.shape[1]


def _check_memory(model, layer_widths, batch_size, optimizer, input_width=None):
    """Refuse, before allocating, a network and batch size that the memory cannot hold: the
    library's one estimate (:func:`fastnn._memory.training_bytes`), before the data's arrays
    are made.

    ``input_width`` is the values a row of the input stores (``layer_widths[0]`` for dense
    rows, fewer for sparse ones).
    """
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(layer_widths, layer_widths[1:]))
    network = f"a network of {layer_widths[0]:,} inputs and {n_params:,} parameters"
    lbfgs = optimizer == "lbfgs"
    what = f"training {network} " + ("with L-BFGS" if lbfgs else f"in batches of {batch_size:,}")
    sparse = input_width is not None and input_width != layer_widths[0]
    check_training(layer_widths, model.dtype, what, batch_size=batch_size or 1,
                   row_values=input_width if sparse else None,
                   slots={"sgd": 1, "adam": 2}.get(optimizer, 0), lbfgs=lbfgs)  # fmt: skip


def run(args):
    args.hidden = widths(args.hidden)
    if args.features is not None:
        args.features = column_names(args.features)
    at_least(args.epochs, "--epochs", 1)
    if args.batch_size is not None:
        at_least(args.batch_size, "--batch-size", 1)
    optimizer = optimizer_options.build(args)
    _check_destinations(args)
    load_started = time.perf_counter()
    request = Request(
        args.dataset, args.data_dir, args.target, args.task, args.features, args.val_split
    )
    data = load(request)
    load_seconds = time.perf_counter() - load_started
    if args.batch_size is not None:  # one batch of all: the same numbers
        args.batch_size = min(args.batch_size, data.X_train.shape[0])
    model = _build_model(args, data)
    validation = f", {data.X_val.shape[0]:,} validation" if data.X_val is not None else ""
    print(f"model: {model.summary()}")
    print(
        f"data: {data.title}, {data.X_train.shape[0]:,} training{validation} and "
        f"{data.X_test.shape[0]:,} test {data.unit} (loaded in {load_seconds:.2f}s)"
    )
    described = optimizer_options.describe(optimizer)
    if isinstance(optimizer, LBFGS):
        print(
            f"training: L-BFGS on the full batch of {data.X_train.shape[0]:,} {data.unit}, at most "
            f"{args.epochs} iteration(s), {described}"
        )
    else:
        print(f"training: {args.epochs} epoch(s), batch size {args.batch_size}, {described}")
    history = _fit(model, data, args, optimizer)
    _print_train_time(history, optimizer)
    if args.save:
        print(f"saved: {model.save(args.save)}")
    _report(model, data, args.plots, history)
    return 0


def _print_train_time(history, optimizer):
    """The training time, per epoch (per iteration for L-BFGS, and why it stopped)."""
    times = history.history.get("epoch_time", [])
    total = sum(times)
    if isinstance(optimizer, LBFGS):
        per = f"{total / len(times):.3f}s per iteration" if times else "no iteration"
        stopped = f"; L-BFGS: {optimizer.result_.message}" if optimizer.result_ else ""
        print(f"train time: {total:.3f}s ({len(times)} iteration(s), {per}){stopped}")
        return
    # the adaptive schedule may stop before the last epoch
    print(f"train time: {total:.3f}s ({total / max(len(times), 1):.3f}s per epoch)")


def _fit(model, data, args, optimizer):
    """``model.fit`` as the options ask; on Ctrl-C, save the last completed epoch with --save."""
    try:
        return model.fit(
            data.X_train,
            data.y_train,
            epochs=args.epochs,
            batch_size=args.batch_size or 1,  # L-BFGS: the full batch, whatever is given
            optimizer=optimizer,
            validation_data=None if data.X_val is None else (data.X_val, data.y_val),
            verbose=2 if args.quiet else 1,
        )
    except KeyboardInterrupt as exc:
        if isinstance(optimizer, LBFGS):  # its last point may be a line search's trial
            done = "interrupted during L-BFGS, which has no completed epoch to go back to"
            raise Interrupted(done + (": nothing saved" if args.save else "")) from None
        if isinstance(exc, TrainingInterrupted):
            exc.rollback()  # back to the end of the last completed epoch
        # between epochs, the optimizer has made a whole number of epochs' updates
        completed = optimizer.iterations // math.ceil(data.X_train.shape[0] / args.batch_size)
        raise Interrupted(_save_interrupted(model, args, completed)) from None


def _save_interrupted(model, args, completed):
    """Save the model as of ``completed`` epochs when ``--save`` asks; say what was done."""
    done = f"interrupted after {completed} of {args.epochs} epoch(s)"
    if args.save is None:
        return done
    if completed == 0:
        return f"{done}: nothing to save"
    return f"{done}: saved the model as of epoch {completed} to {model.save(args.save)}"


def _report(model, data, plots, history):
    """The test metrics (in the target's units for regression), and the plots on request."""
    scores = model.evaluate(data.X_test, data.y_test)
    report = None
    regression = model.loss not in CLASSIFICATION_LOSSES
    if regression or plots:
        from .. import metrics  # imports scikit-learn, which is slow to import: only when needed

        report = metrics.report(model, data.X_test, data.y_test, class_names=data.classes)
    if regression:
        scaled = " (standardised target)" if report.get("target_standardised") else ""
        print(
            f"test loss: {scores['loss']:.4f}{scaled}  test MSE: {report['mse']:.4f}  "
            f"MAE: {report['mae']:.4f}  R^2: {report['r2']:.4f}"
        )
    else:
        print(f"test loss: {scores['loss']:.4f}  test accuracy: {scores['accuracy']:.4f}")
    if plots:
        from .. import plots as plotting

        paths = plotting.plot_report(history, report, plots, class_names=data.classes)
        print(f"plots: {', '.join(paths)}")
