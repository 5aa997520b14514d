"""The same job in PyTorch, JAX and scikit-learn, from fastnn's initial weights.

PyTorch and JAX visit the samples in fastnn's order (:func:`~fastnn.bench.jobs.epoch_order`);
scikit-learn shuffles with its own generator. Each peer is imported only when asked for, through
:func:`import_peer`.
"""

import warnings
from importlib import import_module

import numpy as np

from .jobs import N_HIDDEN, N_IN, N_OUT, Job, epoch_order
from .machine import blas_threads

PEERS = ("torch", "jax", "sklearn")
PEER_NAMES = {"torch": "PyTorch", "jax": "JAX", "sklearn": "scikit-learn"}
PEER_MODULES = {"torch": "torch", "jax": "jax", "sklearn": "sklearn.neural_network"}


def import_peer(name):
    """Import the module a peer needs; raises ImportError when it is not installed."""
    return import_module(PEER_MODULES[name])


def peer_jobs(peer, module, data, regime, n, settings, notes, cache):
    """The jobs of one peer in one regime on ``n`` samples (PyTorch: one per thread count)."""
    if peer == "torch":
        return [torch_job(module, data, regime, n, settings, t) for t in settings["torch_threads"]]
    if peer == "jax":
        return [jax_job(module, data, regime, n, settings, cache)]
    return [sklearn_job(module, data, regime, n, settings, notes)]


def torch_job(torch, data, regime, n, settings, threads):
    """PyTorch: the training loop over fastnn's order is the timed region."""
    nn = torch.nn
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = torch.from_numpy(data["X"][:n]), torch.from_numpy(data["y"][:n])
    X_test, y_test = torch.from_numpy(data["X_test"]), torch.from_numpy(data["y_test"])
    order = epoch_order(settings["seed"], n)
    order_list, order_tensor = order.tolist(), torch.from_numpy(order)
    weights = settings["weights"]
    state = {}

    def prepare():
        torch.set_num_threads(threads)
        model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Linear(N_HIDDEN, N_OUT))
        with torch.no_grad():
            for linear, (W, b) in zip((model[0], model[2]), weights):
                linear.weight.copy_(torch.from_numpy(W.T))  # nn.Linear keeps W as (out, in)
                linear.bias.copy_(torch.from_numpy(b))
        state["model"] = model
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

    label = f"PyTorch, {threads} thread{'s' if threads > 1 else ''}"
    return Job(label, regime, batch_size, lr, n, str(threads), prepare, epoch, accuracy, "torch")


def _jax_epoch_function(jax, n, batch_size, lr):
    """One jitted epoch: ``lax.scan`` over the full batches, then the shorter last batch."""
    jnp = jax.numpy
    n_full = n // batch_size

    def loss(params, xb, yb):
        W1, b1, W2, b2 = params
        logits = jax.nn.relu(xb @ W1 + b1) @ W2 + b2
        log_p = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], axis=1))

    grad = jax.grad(loss)

    def step(params, X, y, rows):
        g = grad(params, X[rows], y[rows])
        return tuple(p - lr * dp for p, dp in zip(params, g))

    def epoch(params, X, y, order):
        if n_full:
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            params, _ = jax.lax.scan(lambda p, rows: (step(p, X, y, rows), None), params, batches)
        if n % batch_size:
            params = step(params, X, y, order[n_full * batch_size :])
        return params

    return jax.jit(epoch)


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
    weights = [jax.device_put(a, cpu) for pair in settings["weights"] for a in pair]
    epoch_fn = _jax_epoch_function(jax, n, batch_size, lr)
    state = {}

    def prepare():
        state["params"] = tuple(weights)

    def epoch():
        state["params"] = jax.block_until_ready(epoch_fn(state["params"], X, y, order))

    def accuracy():
        W1, b1, W2, b2 = state["params"]
        logits = np.asarray(jax.nn.relu(X_test @ W1 + b1) @ W2 + b2)
        return float(np.mean(logits.argmax(axis=1) == data["y_test"]))

    return Job(
        "JAX (jit, lax.scan)", regime, batch_size, lr, n, "XLA", prepare, epoch, accuracy, "jax"
    )


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
    by_shape = {W.shape: (W, b) for W, b in weights}

    class SameStart(MLPClassifier):  # the estimator, with fastnn's initial weights
        def _init_coef(self, fan_in, fan_out, dtype):
            W, b = by_shape[(fan_in, fan_out)]
            return W.astype(dtype), b.astype(dtype)

    return SameStart


def sklearn_job(module, data, regime, n, settings, notes):
    """scikit-learn's MLPClassifier: one ``fit`` call of one epoch is the timed region."""
    from sklearn.exceptions import ConvergenceWarning

    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    classifier = _sklearn_classifier(module, settings["weights"], notes)
    state = {}

    def prepare():
        state["model"] = classifier(
            hidden_layer_sizes=(N_HIDDEN,),
            activation="relu",
            solver="sgd",
            batch_size=batch_size,
            learning_rate="constant",
            learning_rate_init=lr,
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            max_iter=1,
            shuffle=True,
            random_state=settings["seed"],
        )

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 is the point
            state["model"].fit(X, y)

    def accuracy():
        return float(state["model"].score(data["X_test"], data["y_test"]))

    label, threads = "scikit-learn MLPClassifier", blas_threads()
    return Job(label, regime, batch_size, lr, n, threads, prepare, epoch, accuracy, "sklearn")


__all__ = ["PEERS", "PEER_NAMES", "import_peer", "jax_job", "peer_jobs", "sklearn_job", "torch_job"]
