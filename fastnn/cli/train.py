"""``fastnn train``: build a dense network for a data set, train it with SGD, Adam or L-BFGS,
report its test metrics, and keep it (``--save``) with what ``evaluate`` and ``predict`` need.

Everything the options decide is checked before the data is loaded or a buffer allocated: the
numbers, the options that apply to the chosen optimizer (:mod:`.optimizer`), the destinations of
``--save``, ``--checkpoint``, ``--log-csv`` and ``--plots``, the file of ``--resume``, and the
memory the network and its batches will take. A Ctrl-C during SGD or Adam saves the model as of
its last completed epoch.

The training controls are the library's callbacks: ``--early-stopping`` is
:class:`~fastnn.EarlyStopping` (restoring the best epoch's weights), ``--checkpoint``
:class:`~fastnn.ModelCheckpoint` (every epoch), ``--log-csv`` :class:`~fastnn.CSVLogger`.
``--resume`` loads a checkpoint (or any saved model) and trains on to ``--epochs`` in all, from
the optimizer's state, the epoch count and the shuffles the file holds: the same options give
the weights an uninterrupted run would have.
"""

import math
import os
import time

from .._codes import CLASSIFICATION_LOSSES
from .._memory import check_training
from ..callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
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
    input_file,
    load_model,
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
    output.add_argument(
        "--checkpoint",
        metavar="PATH",
        default=None,
        help="sgd and adam: write the model to PATH (.npz) after every epoch, with the "
        "optimizer's state, the epoch count and the shuffles, so that --resume PATH continues "
        "exactly (after a Ctrl-C too: the file holds the last completed epoch)",
    )
    output.add_argument(
        "--log-csv",
        metavar="PATH",
        default=None,
        help="sgd and adam: write each epoch's loss, accuracy, time and validation metrics as a "
        "row of the CSV file PATH (appended to with --resume)",
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
    group.add_argument(
        "--dropout",
        type=fraction,
        default=None,
        metavar="RATE",
        help="sgd and adam: dropout of this rate in [0, 1) after every hidden layer, in "
        "training only; per sample (--batch-size 1) on the numba backend, any batch size on "
        "numpy (default: none)",
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
    group.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="PATIENCE",
        help="sgd and adam: stop after PATIENCE epochs (>= 0) without a lower validation loss "
        "(the training loss without --val-split), and keep the best epoch's weights",
    )
    group.add_argument(
        "--resume",
        metavar="PATH",
        default=None,
        help="sgd and adam: continue the training saved in PATH (by --checkpoint or --save) up "
        "to --epochs in all, with its optimizer state, epoch count and shuffles; give the "
        "options it was trained with (network, optimizer, data set, --batch-size)",
    )


def _check_destinations(args):
    """``--save``, ``--checkpoint``, ``--log-csv`` and ``--plots`` can be written, plotting can
    be done and the ``--resume`` file read, before any work."""
    data_file = args.dataset.partition(":")[2] if file_kind(args.dataset) else None
    if args.resume is not None:
        input_file(args.resume, "--resume")
    for option, dest, model_file in (("--save", "save", True), ("--checkpoint", "checkpoint", True),
                                     ("--log-csv", "log_csv", False)):  # fmt: skip
        path = getattr(args, dest)
        if path is None:
            continue
        if os.path.isdir(path) or path.endswith(("/", os.sep)):
            raise UsageError(f"{option} {path}: is a folder; name a file in it")
        path = output_file(_with_suffix(path) if model_file else path, option)
        inputs = {"the data file": data_file}
        if dest == "log_csv":
            inputs["the --resume file"] = args.resume
        not_an_input(path, option, inputs)
        setattr(args, dest, path)
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
        dense_stack(layer_widths, args.activation, args.dropout or 0.0),
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
    if args.early_stopping is not None:
        at_least(args.early_stopping, "--early-stopping", 0)
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
    if args.resume is not None:
        model, optimizer = _resumed(args, model, optimizer)
    validation = f", {data.X_val.shape[0]:,} validation" if data.X_val is not None else ""
    print(f"model: {model.describe()}")
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
    elif args.resume is not None:
        print(f"training: resuming {args.resume} after epoch {model.epochs_trained}, up to "
              f"{args.epochs} epoch(s) in all, batch size {args.batch_size}, "
              f"{described}")  # fmt: skip
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


def _architecture(model):
    """What a resumed model must share with the options: layers, dropout, loss and dtype."""
    return ([layer.to_config() for layer in model.layers], model._dropout, model.loss,
            model.dtype)  # fmt: skip


def _resumed(args, built, optimizer):
    """The model and optimizer of ``--resume``, checked against what the options build."""
    saved = load_model(args.resume, args.backend)
    if _architecture(saved) != _architecture(built):
        shown = saved.describe().rpartition(" | backend")[0]
        wanted = built.describe().rpartition(" | backend")[0]
        raise UsageError(
            f"--resume {args.resume} holds {shown}, but the options build {wanted}: give the "
            "network options the model was trained with"
        )
    dataset = saved.metadata.get("dataset")
    if dataset is not None and dataset != args.dataset:
        raise UsageError(
            f"--resume {args.resume} was trained on --dataset {dataset}, not {args.dataset}"
        )
    if saved.optimizer is None:  # a model saved without its optimizer: the options' one
        return saved, optimizer
    if saved.optimizer.get_config() != optimizer.get_config():
        raise UsageError(
            f"--resume {args.resume} was trained with {optimizer_options.describe(saved.optimizer)}"
            f"; the options give {optimizer_options.describe(optimizer)}: give the optimizer "
            "options it was trained with"
        )
    return saved, saved.optimizer


def _callbacks(args, data):
    """The callbacks the training controls ask for."""
    callbacks = []
    if args.early_stopping is not None:
        monitor = "loss" if data.X_val is None else "val_loss"
        callbacks.append(EarlyStopping(monitor=monitor, patience=args.early_stopping,
                                       restore_best_weights=True, verbose=1))  # fmt: skip
    if args.checkpoint is not None:
        callbacks.append(ModelCheckpoint(args.checkpoint))
    if args.log_csv is not None:
        callbacks.append(CSVLogger(args.log_csv, append=args.resume is not None))
    return callbacks


def _fit(model, data, args, optimizer):
    """``model.fit`` as the options ask; on Ctrl-C, save the last completed epoch with --save."""
    epochs = args.epochs
    if not isinstance(optimizer, LBFGS):
        epochs = max(0, args.epochs - model.epochs_trained)  # --resume: what is left to train
    try:
        return model.fit(
            data.X_train,
            data.y_train,
            epochs=epochs,
            batch_size=args.batch_size or 1,  # L-BFGS: the full batch, whatever is given
            optimizer=optimizer,
            validation_data=None if data.X_val is None else (data.X_val, data.y_val),
            verbose=2 if args.quiet else 1,
            callbacks=_callbacks(args, data),
        )
    except KeyboardInterrupt as exc:
        if isinstance(optimizer, LBFGS):  # its last point may be a line search's trial
            done = "interrupted during L-BFGS, which has no completed epoch to go back to"
            raise Interrupted(done + (": nothing saved" if args.save else "")) from None
        if isinstance(exc, TrainingInterrupted):
            exc.rollback()  # back to the end of the last completed epoch, shuffles included
        raise Interrupted(_save_interrupted(model, args, model.epochs_trained)) from None


def _save_interrupted(model, args, completed):
    """Save the model as of ``completed`` epochs when ``--save`` asks; say what was done."""
    done = f"interrupted after {completed} of {args.epochs} epoch(s)"
    if args.checkpoint is not None and completed > 0:
        done += f"; continue with --resume {args.checkpoint}"
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
