"""The same job in PyTorch, JAX and scikit-learn, from fastnn's initial weights, each written
the way its users write it.

PyTorch and JAX visit the samples in fastnn's order (:func:`~fastnn.bench.jobs.epoch_order`);
scikit-learn shuffles with its own generator. Each peer is imported only when asked for, through
:func:`import_peer`.

Adam is the same rule everywhere but in PyTorch: fastnn, scikit-learn and the JAX epoch (written
by hand, as JAX users without optax write it) add ``eps`` to ``sqrt(v)`` and fold the bias
correction into the step; ``torch.optim.Adam`` adds ``eps`` to ``sqrt(v / (1 - beta2**t))``,
which differs while ``t`` is small. PyTorch's Adam therefore reaches slightly other weights;
its accuracy is what is compared.
"""

import warnings
from importlib import import_module

import numpy as np

from .jobs import ADAM, Job, epoch_order, layer_widths
from .machine import blas_threads

PEERS = ("torch", "jax", "sklearn")
PEER_NAMES = {"torch": "PyTorch", "jax": "JAX", "sklearn": "scikit-learn"}
PEER_MODULES = {"torch": "torch", "jax": "jax", "sklearn": "sklearn.neural_network"}
TORCH_ADAM_NOTE = (
    "PyTorch's torch.optim.Adam adds eps to the bias-corrected sqrt(v / (1 - beta2^t)), where "
    "fastnn, JAX (written by hand here) and scikit-learn add it to sqrt(v) and fold the "
    "correction into the step; the two differ while t is small, so PyTorch's weights differ a "
    "little: compare accuracies, not weights"
)


def import_peer(name):
    """Import the module a peer needs; raises ImportError when it is not installed."""
    return import_module(PEER_MODULES[name])


def peer_jobs(peer, module, data, regime, n, settings, notes, cache):
    """The jobs of one peer in one regime on ``n`` samples (PyTorch: one per thread count)."""
    if peer == "torch":
        if settings["optimizer"] == "adam":
            notes.setdefault("torch-adam", TORCH_ADAM_NOTE)
        return [torch_job(module, data, regime, n, settings, t) for t in settings["torch_threads"]]
    if peer == "jax":
        return [jax_job(module, data, regime, n, settings, cache)]
    return [sklearn_job(module, data, regime, n, settings, notes)]


# -- PyTorch ---------------------------------------------------------------------------------


def torch_network(nn, widths):
    """``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` for ``[n_in, *hidden, n_out]``."""
    modules = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1]):
        modules += [nn.Linear(n_in, n_out), nn.ReLU()]
    modules.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*modules)


def torch_job(torch, data, regime, n, settings, threads):
    """PyTorch: the training loop over fastnn's order is the timed region."""
    nn = torch.nn
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = torch.from_numpy(data["X"][:n]), torch.from_numpy(data["y"][:n])
    X_test, y_test = torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"])
    order = epoch_order(settings["seed"], n)
    order_list, order_tensor = order.tolist(), torch.from_numpy(order)
    widths, weights = layer_widths(settings["hidden"]), settings["weights"]
    state = {}

    def linears():
        return [m for m in state["model"] if isinstance(m, nn.Linear)]

    def prepare():
        torch.set_num_threads(threads)
        state["model"] = model = torch_network(nn, widths)
        with torch.no_grad():
            for linear, (W, b) in zip(linears(), weights):
                linear.weight.copy_(torch.from_numpy(W.T))  # nn.Linear keeps W as (out, in)
                linear.bias.copy_(torch.from_numpy(b))
        if settings["optimizer"] == "adam":
            a = settings["adam"]
            state["optimizer"] = torch.optim.Adam(
                model.parameters(), lr=lr, betas=(a["beta1"], a["beta2"]), eps=a["eps"]
            )
        else:
            state["optimizer"] = torch.optim.SGD(model.parameters(), lr=lr)
        state["loss"] = nn.CrossEntropyLoss()

    def epoch():
        model, optimizer, loss_fn = state["model"], state["optimizer"], state["loss"]
        if batch_size == 1:
            for i in order_list:
                optimizer.zero_grad()
                loss_fn(model(X[i : i + 1]), y[i : i + 1]).backward()
                optimizer.step()
        else:
            for first in range(0, n, batch_size):
                rows = order_tensor[first : first + batch_size]
                optimizer.zero_grad()
                loss_fn(model(X[rows]), y[rows]).backward()
                optimizer.step()

    def accuracy():
        with torch.no_grad():
            return float((state["model"](X_test).argmax(dim=1) == y_test).float().mean())

    def trained_weights():
        return [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                for m in linears()]  # fmt: skip

    label = f"PyTorch, {threads} thread{'s' if threads > 1 else ''}"
    return Job(label, regime, batch_size, lr, n, str(threads), prepare, epoch, accuracy, "torch",
               weights=trained_weights)  # fmt: skip


# -- JAX -------------------------------------------------------------------------------------


def _jax_update(jax, optimizer, lr, adam):
    """``(init, update)`` of plain SGD or of Adam written by hand.

    Adam as fastnn, scikit-learn and Keras write it (not optax's default, which adds ``eps``
    after the bias correction): ``t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``.
    """
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map
    if optimizer == "sgd":

        def init(params):
            return ()

        def update(params, grads, state):
            return tree_map(lambda p, g: p - lr * g, params, grads), state

        return init, update

    b1, b2, eps = adam["beta1"], adam["beta2"], adam["eps"]

    def init(params):
        zeros = tree_map(jnp.zeros_like, params)  # arrays are immutable: m and v may share it
        return jnp.zeros((), jnp.int32), zeros, zeros

    def update(params, grads, state):
        t, m, v = state
        t = t + 1
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        step = t.astype(jnp.float32)
        lr_t = lr * jnp.sqrt(1 - b2**step) / (1 - b1**step)
        params = tree_map(lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + eps), params, m, v)
        return params, (t, m, v)

    return init, update


def jax_epoch_function(jax, n, batch_size, optimizer, lr, adam=ADAM):
    """``(init, epoch)``: the optimizer's first state for some parameters, and one jitted epoch
    ``epoch(params, state, X, y, order) -> (params, state)``.

    ``params`` is a tuple of ``(W, b)`` pairs, W of shape (n_in, n_out); the epoch is
    ``lax.scan`` over the full batches of ``order``, then the shorter last batch, each step
    the gradient of the batch's mean cross-entropy followed by the optimizer's update.
    """
    jnp = jax.numpy
    n_full = n // batch_size
    init, update = _jax_update(jax, optimizer, lr, adam)

    def loss(params, xb, yb):
        a = xb
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = params[-1]
        log_p = jax.nn.log_softmax(a @ W + b)
        return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], axis=1))

    grad = jax.grad(loss)

    def step(carry, X, y, rows):
        params, state = carry
        return update(params, grad(params, X[rows], y[rows]), state)

    def epoch(params, state, X, y, order):
        carry = (params, state)
        if n_full:
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            carry, _ = jax.lax.scan(lambda c, rows: (step(c, X, y, rows), None), carry, batches)
        if n % batch_size:
            carry = step(carry, X, y, order[n_full * batch_size :])
        return carry

    return init, jax.jit(epoch)


def jax_job(jax, data, regime, n, settings, cache):
    """JAX: the jitted epoch, until its result is ready, is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    cpu = jax.devices("cpu")[0]
    if n not in cache:  # the training data, moved once per slice
        cache[n] = (
            jax.device_put(data["X"][:n], cpu),
            jax.device_put(data["y"][:n].astype(np.int32), cpu),
            jax.device_put(epoch_order(settings["seed"], n).astype(np.int32), cpu),
        )
    X, y, order = cache[n]
    if "test" not in cache:
        cache["test"] = jax.device_put(data["X_test"], cpu)
    X_test = cache["test"]
    weights = tuple(
        (jax.device_put(W, cpu), jax.device_put(b, cpu)) for W, b in settings["weights"]
    )
    init, epoch_fn = jax_epoch_function(
        jax, n, batch_size, settings["optimizer"], lr, settings["adam"]
    )
    state = {}

    def prepare():
        state["params"] = weights
        state["optimizer"] = jax.block_until_ready(init(weights))

    def epoch():
        state["params"], state["optimizer"] = jax.block_until_ready(
            epoch_fn(state["params"], state["optimizer"], X, y, order)
        )

    def accuracy():
        a = X_test
        for W, b in state["params"][:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = state["params"][-1]
        logits = np.asarray(a @ W + b)
        return float(np.mean(logits.argmax(axis=1) == data["y_test"]))

    def trained_weights():
        return [(np.asarray(W), np.asarray(b)) for W, b in state["params"]]

    return Job("JAX (jit, lax.scan)", regime, batch_size, lr, n, "XLA", prepare, epoch, accuracy,
               "jax", weights=trained_weights)  # fmt: skip


# -- scikit-learn ----------------------------------------------------------------------------


def _sklearn_classifier(module, weights, notes):
    """MLPClassifier, made to start from fastnn's weights where this version allows it."""
    MLPClassifier = module.MLPClassifier
    if not hasattr(MLPClassifier, "_init_coef"):
        notes.setdefault(
            "sklearn-init",
            "scikit-learn: this version has no _init_coef to override, so it starts from its "
            "own initial weights (Glorot uniform, biases too)",
        )
        return MLPClassifier

    class SameStart(MLPClassifier):  # the estimator, with fastnn's initial weights
        def _initialize(self, *args, **kwargs):
            self._fastnn_layer = 0  # _init_coef is called once per layer, in order
            return super()._initialize(*args, **kwargs)

        def _init_coef(self, fan_in, fan_out, dtype):
            W, b = weights[self._fastnn_layer]
            if W.shape != (fan_in, fan_out):
                raise RuntimeError(
                    f"scikit-learn asked for layer {self._fastnn_layer} as {fan_in}x{fan_out}; "
                    f"fastnn's is {W.shape[0]}x{W.shape[1]}"
                )
            self._fastnn_layer += 1
            return W.astype(dtype), b.astype(dtype)

    return SameStart


def sklearn_job(module, data, regime, n, settings, notes):
    """scikit-learn's MLPClassifier: one ``fit`` call of one epoch is the timed region."""
    from sklearn.exceptions import ConvergenceWarning

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    classifier = _sklearn_classifier(module, settings["weights"], notes)
    if settings["optimizer"] == "adam":
        a = settings["adam"]
        solver = dict(solver="adam", beta_1=a["beta1"], beta_2=a["beta2"], epsilon=a["eps"])
    else:
        solver = dict(solver="sgd", momentum=0.0, nesterovs_momentum=False)
    state = {}

    def prepare():
        state["model"] = classifier(
            hidden_layer_sizes=tuple(settings["hidden"]),
            activation="relu",
            batch_size=batch_size,
            learning_rate="constant",
            learning_rate_init=lr,
            alpha=0.0,
            max_iter=1,
            shuffle=True,
            random_state=settings["seed"],
            **solver,
        )

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is the point
            state["model"].fit(X, y)

    def accuracy():
        return float(state["model"].score(data["X_test"], data["y_test"]))

    def trained_weights():
        model = state["model"]
        return [(W.copy(), b.copy()) for W, b in zip(model.coefs_, model.intercepts_)]

    label, threads = "scikit-learn MLPClassifier", blas_threads()
    return Job(label, regime, batch_size, lr, n, threads, prepare, epoch, accuracy, "sklearn",
               weights=trained_weights)  # fmt: skip


__all__ = [
    "PEERS",
    "PEER_NAMES",
    "import_peer",
    "jax_epoch_function",
    "jax_job",
    "peer_jobs",
    "sklearn_job",
    "torch_job",
    "torch_network",
]
