"""The optimizer options of ``fastnn train``: declared once here, each refused in one line with
an optimizer it does not apply to, and turned into a fastnn optimizer.

An option that does not apply is refused rather than ignored, so that a command line never
says more than the training it runs: ``--momentum`` with Adam, ``--beta1`` with SGD, ``--lr``
or ``--l1`` with L-BFGS. Their defaults are therefore ``None`` ("not given"), resolved here.
"""

from ..lbfgs import LBFGS
from ..optimizers import SCHEDULES, SGD, Adam
from .options import OPTIMIZER, UsageError

OPTIMIZERS = ("sgd", "adam", "lbfgs")
STOCHASTIC = ("sgd", "adam")
DEFAULT_LR = {"sgd": 0.01, "adam": 0.001}
DEFAULT_BATCH_SIZE = 1

# option: (its argparse destination, the optimizers it applies to)
APPLIES = {
    "--lr": ("lr", STOCHASTIC),
    "--batch-size": ("batch_size", STOCHASTIC),
    "--schedule": ("schedule", STOCHASTIC),
    "--power-t": ("power_t", STOCHASTIC),
    "--momentum": ("momentum", ("sgd",)),
    "--nesterov": ("nesterov", ("sgd",)),
    "--decay": ("decay", ("sgd",)),
    "--beta1": ("beta1", ("adam",)),
    "--beta2": ("beta2", ("adam",)),
    "--eps": ("eps", ("adam",)),
    "--l1": ("l1", STOCHASTIC),
    # the training controls of the epochs, which L-BFGS does not have
    "--dropout": ("dropout", STOCHASTIC),
    "--early-stopping": ("early_stopping", STOCHASTIC),
    "--checkpoint": ("checkpoint", STOCHASTIC),
    "--resume": ("resume", STOCHASTIC),
    "--log-csv": ("log_csv", STOCHASTIC),
}


def add_options(group):
    """``--optimizer`` and the hyperparameters of each optimizer (``--epochs`` and
    ``--batch-size`` are the command's own)."""
    OPTIMIZER.add(
        group,
        choices=OPTIMIZERS,
        help="sgd (default), adam (scikit-learn's and Keras's form: eps added to sqrt(v), the "
        "bias correction folded into the step) or lbfgs (full batch, SciPy's L-BFGS-B; "
        "--epochs is then its most iterations, and --lr, --batch-size, --l1, --schedule and "
        "--val-split do not apply)",
    )
    group.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate, sgd and adam (default: 0.01 for sgd, 0.001 for adam)",
    )
    group.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help="learning-rate schedule, sgd and adam, as scikit-learn's MLP: constant, "
        "invscaling (lr / (samples seen + 1) ** power_t, set at each epoch's end) or adaptive "
        "(divided by 5 after 10 epochs without a 1e-4 improvement of the loss, the validation "
        "loss with --val-split; stops at 1e-6) (default: constant)",
    )
    group.add_argument(
        "--power-t",
        type=float,
        default=None,
        metavar="X",
        help="exponent of --schedule invscaling (default: 0.5)",
    )
    group.add_argument(
        "--momentum", type=float, default=None, help="sgd only: momentum in [0, 1] (default: 0)"
    )
    group.add_argument(
        "--nesterov", action="store_true", default=None, help="sgd only: Nesterov momentum"
    )
    group.add_argument(
        "--decay",
        type=float,
        default=None,
        help="sgd only: learning-rate decay per update, lr_t = lr / (1 + decay * t) (default: 0)",
    )
    for option, default, what in (("--beta1", 0.9, "decay rate of the first moment"),
                                  ("--beta2", 0.999, "decay rate of the second moment"),
                                  ("--eps", 1e-8, "added to sqrt(v)")):  # fmt: skip
        group.add_argument(
            option, type=float, default=None, metavar="X",
            help=f"adam only: {what} (default: {default:g})",
        )  # fmt: skip
    group.add_argument(
        "--l1",
        type=float,
        default=None,
        help="L1 penalty on the weights, sgd and adam (default: 0)",
    )
    group.add_argument(
        "--l2", type=float, default=0.0, help="L2 penalty on the weights (default: 0)"
    )


def _refuse_what_does_not_apply(args):
    """One line naming the first option given that the chosen optimizer does not take."""
    for option, (dest, optimizers) in APPLIES.items():
        if getattr(args, dest) is None or args.optimizer in optimizers:
            continue
        raise UsageError(
            f"{option} applies to --optimizer {' and '.join(optimizers)}, not to {args.optimizer}"
        )
    if args.optimizer == "lbfgs" and args.val_split:
        raise UsageError(
            "--val-split applies to --optimizer sgd and adam, not to lbfgs (L-BFGS trains on "
            "the full batch with no epochs to validate after)"
        )
    if args.power_t is not None and args.schedule != "invscaling":
        raise UsageError("--power-t applies to --schedule invscaling only")


def build(args):
    """The optimizer the options ask for, every option checked first.

    Fills in ``args.lr`` and ``args.batch_size`` where they were not given (``batch_size``:
    None with L-BFGS, which trains on the full batch).
    """
    _refuse_what_does_not_apply(args)
    if args.optimizer == "lbfgs":
        return LBFGS(max_iter=args.epochs, l2=args.l2)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE
    common = dict(l1=args.l1 or 0.0, l2=args.l2, schedule=args.schedule or "constant")
    if args.power_t is not None:
        common["power_t"] = args.power_t
    if args.optimizer == "adam":
        given = {name: getattr(args, name) for name in ("beta1", "beta2", "eps")}
        return Adam(args.lr, **{k: v for k, v in given.items() if v is not None}, **common)
    momentum = 0.0 if args.momentum is None else args.momentum
    return SGD(args.lr, momentum, bool(args.nesterov), args.decay or 0.0, **common)


def describe(optimizer):
    """The optimizer as the ``training:`` line shows it, its schedule included."""
    text = repr(optimizer)
    schedule = getattr(optimizer, "schedule", "constant")
    if schedule == "invscaling":
        text += f", schedule invscaling (power_t {optimizer.power_t:g})"
    elif schedule == "adaptive":
        text += (
            f", schedule adaptive (divided by 5 after {optimizer.n_iter_no_change} epochs "
            f"without a {optimizer.tol:g} improvement)"
        )
    return text


__all__ = ["APPLIES", "DEFAULT_LR", "OPTIMIZERS", "add_options", "build", "describe"]
