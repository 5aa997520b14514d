"""The same job in PyTorch, JAX and scikit-learn, from fastnn's initial weights, each written
the way its users write it, for dense rows and for sparse (CSR) rows.

PyTorch and JAX visit the samples in fastnn's order (:func:`~fastnn.bench.jobs.visit_order`);
scikit-learn shuffles with its own generator where fastnn shuffles, and takes the rows in their
order where it does not. Each peer is imported only when asked for, through
:func:`import_peer`.

On sparse rows each peer takes the form its users write for bag-of-words input: scikit-learn
the CSR matrix itself; PyTorch ``nn.EmbeddingBag(mode="sum", sparse=True)`` fed each row's
columns and values, so that its gradient, and the step, touch only the rows' words; JAX
``jax.experimental.sparse.BCOO`` rows (padded to the longest row, for jit's fixed shapes) times
the dense first-layer weights, whose gradient is dense. Adam on sparse rows is lazy Adam
(fastnn's ``Adam(lazy=True)``, PyTorch's ``SparseAdam`` for the embedding, JAX by hand): only
the first layer's rows of the batch's words step; scikit-learn has no lazy Adam.

Adam is the same rule everywhere but in PyTorch: fastnn, scikit-learn and the JAX epoch (written
by hand, as JAX users without optax write it) add ``eps`` to ``sqrt(v)`` and fold the bias
correction into the step; ``torch.optim.Adam`` adds ``eps`` to ``sqrt(v / (1 - beta2**t))``,
which differs while ``t`` is small. PyTorch's Adam therefore reaches slightly other weights;
its accuracy is what is compared.
"""

import warnings
from importlib import import_module

import numpy as np

from .data import padded_rows
from .jobs import ADAM, Job, visit_order
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
SKLEARN_LAZY_NOTE = (
    "scikit-learn has no lazy Adam: it runs Adam, which steps every first-layer weight at every "
    "step, a different algorithm from the others' lazy Adam: compare accuracies, not weights"
)
JAX_PADDING_NOTE = (
    "JAX: every row padded to {width} stored entries (the most of any training row) with zero "
    "values, for jit's fixed shapes"
)


def import_peer(name):
    """Import the module a peer needs; raises ImportError when it is not installed."""
    return import_module(PEER_MODULES[name])


def peer_jobs(peer, module, data, regime, n, settings, notes, cache):
    """The jobs of one peer in one regime on ``n`` samples (PyTorch: one per thread count;
    JAX: the jitted epoch, and where the settings ask, a jitted step in a Python loop)."""
    if peer == "torch":
        if settings["optimizer"] == "adam":
            notes.setdefault("torch-adam", TORCH_ADAM_NOTE)
        return [torch_job(module, data, regime, n, settings, t) for t in settings["torch_threads"]]
    if peer == "jax":
        if settings["sparse"]:
            width = int(np.diff(data["X"].indptr).max(initial=1))
            notes.setdefault("jax-padding", JAX_PADDING_NOTE.format(width=width))
        styles = ("scan", "loop") if settings["jax_loop"] else ("scan",)
        return [jax_job(module, data, regime, n, settings, cache, style) for style in styles]
    if settings["lazy"]:
        notes.setdefault("sklearn-lazy", SKLEARN_LAZY_NOTE)
    return [sklearn_job(module, data, regime, n, settings, notes)]


# -- PyTorch ---------------------------------------------------------------------------------


def torch_network(nn, widths):
    """``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` for ``[n_in, *hidden, n_out]``."""
    modules = []
    for n_in, n_out in zip(widths[:-2], widths[1:-1]):
        modules += [nn.Linear(n_in, n_out), nn.ReLU()]
    modules.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*modules)


def torch_bag_network(torch, widths):
    """The bag-of-words form of the network: ``nn.EmbeddingBag(n_in, width, mode="sum",
    sparse=True)`` weighted by the rows' values, plus a bias, then ReLU and ``nn.Linear``
    layers. Its ``embed.weight`` is (n_in, width), as fastnn's W."""
    nn = torch.nn

    class BagOfWords(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.EmbeddingBag(widths[0], widths[1], mode="sum", sparse=True)
            self.bias = nn.Parameter(torch.zeros(widths[1]))
            self.rest = torch_network(nn, widths[1:]) if len(widths) > 2 else None

        def forward(self, columns, offsets, values):
            z = self.embed(columns, offsets, per_sample_weights=values) + self.bias
            return z if self.rest is None else self.rest(torch.relu(z))

    return BagOfWords()


def _torch_csr(torch, X):
    """``(columns, values, indptr)`` of a CSR matrix as tensors (int64 indices)."""
    return (torch.from_numpy(X.indices.astype(np.int64)), torch.from_numpy(X.data),
            torch.from_numpy(X.indptr.astype(np.int64)))  # fmt: skip


def torch_job(torch, data, regime, n, settings, threads):
    """PyTorch: the training loop over fastnn's order is the timed region."""
    nn = torch.nn
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    sparse, widths, weights = settings["sparse"], settings["widths"], settings["weights"]
    order = visit_order(settings, n)
    y = torch.from_numpy(data["y"][:n])
    y_test = torch.from_numpy(data["y_test"])
    state = {}

    if sparse:  # the rows in the epoch's order, arranged once, then taken as slices
        X = data["X"][:n][order]
        columns, values, indptr = _torch_csr(torch, X)
        starts, y = X.indptr.tolist(), y[torch.from_numpy(order)]
        one_row = torch.zeros(1, dtype=torch.int64)
        test = _torch_csr(torch, data["X_test"])

        def inputs(first, last):
            a, b = starts[first], starts[last]
            offsets = one_row if last == first + 1 else indptr[first:last] - a
            return columns[a:b], offsets, values[a:b]

        def predict():
            return state["model"](test[0], test[2][:-1], test[1])

        def new_network():
            return torch_bag_network(torch, widths)

        def layers(model):
            first = (model.embed.weight, model.bias)  # W as fastnn's: not transposed
            rest = [] if model.rest is None else model.rest
            return [first] + [(m.weight.T, m.bias) for m in rest if isinstance(m, nn.Linear)]
    else:
        X = torch.from_numpy(data["X"][:n])
        X_test = torch.from_numpy(data["X_test"])
        order_list, order_tensor = order.tolist(), torch.from_numpy(order)

        def predict():
            return state["model"](X_test)

        def new_network():
            return torch_network(nn, widths)

        def layers(model):  # nn.Linear keeps W as (out, in)
            return [(m.weight.T, m.bias) for m in model if isinstance(m, nn.Linear)]

    def optimizers(model):
        if settings["optimizer"] == "sgd":
            return [torch.optim.SGD(model.parameters(), lr=lr)]
        a = settings["adam"]
        options = dict(lr=lr, betas=(a["beta1"], a["beta2"]), eps=a["eps"])
        if not settings["lazy"]:
            return [torch.optim.Adam(model.parameters(), **options)]
        rest = [p for name, p in model.named_parameters() if name != "embed.weight"]
        return [torch.optim.SparseAdam([model.embed.weight], **options),
                torch.optim.Adam(rest, **options)]  # fmt: skip

    def new_model():
        torch.set_num_threads(threads)
        model = new_network()
        with torch.no_grad():
            for (W_t, b_t), (W, b) in zip(layers(model), weights):
                W_t.copy_(torch.from_numpy(W))
                b_t.copy_(torch.from_numpy(b))
        return model, optimizers(model), nn.CrossEntropyLoss()

    def train(model, steppers, loss_fn, n_rows):
        if sparse:
            for first in range(0, n_rows, batch_size):
                last = min(first + batch_size, n_rows)
                model.zero_grad()
                loss_fn(model(*inputs(first, last)), y[first:last]).backward()
                for stepper in steppers:
                    stepper.step()
        elif batch_size == 1:
            for i in order_list if n_rows == n else order_list[:n_rows]:
                model.zero_grad()
                loss_fn(model(X[i : i + 1]), y[i : i + 1]).backward()
                for stepper in steppers:
                    stepper.step()
        else:
            for first in range(0, n_rows, batch_size):
                rows = order_tensor[first : min(first + batch_size, n_rows)]
                model.zero_grad()
                loss_fn(model(X[rows]), y[rows]).backward()
                for stepper in steppers:
                    stepper.step()

    def prepare():
        state["model"], state["optimizers"], state["loss"] = new_model()

    def epoch():
        train(state["model"], state["optimizers"], state["loss"], n)

    def warm_up():
        train(*new_model(), min(n, settings["warmup_samples"]))

    def accuracy():
        with torch.no_grad():
            return float((predict().argmax(dim=1) == y_test).float().mean())

    def trained_weights():
        return [(W.detach().numpy().copy(), b.detach().numpy().copy())
                for W, b in layers(state["model"])]  # fmt: skip

    label = f"PyTorch{' EmbeddingBag' if sparse else ''}, {threads} thread{'s' * (threads > 1)}"
    return Job(label, regime, batch_size, lr, n, str(threads), prepare, epoch, accuracy, "torch",
               weights=trained_weights, warm_up=warm_up if settings["warmup_samples"] else None,
               release=state.clear)  # fmt: skip


# -- JAX -------------------------------------------------------------------------------------


def _jax_update(jax, optimizer, lr, adam, lazy_rows=None):
    """``(init, update)`` of plain SGD or of Adam written by hand.

    Adam as fastnn, scikit-learn and Keras write it (not optax's default, which adds ``eps``
    after the bias correction): ``t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``. Lazy Adam (``lazy_rows``, a
    function of the batch's inputs giving the mask of the first layer's rows that step) leaves
    the other rows of the first W, and their moments, as they are.
    """
    jnp, tree_map = jax.numpy, jax.tree_util.tree_map
    if optimizer == "sgd":

        def init(params):
            return ()

        def update(params, grads, state, inputs):
            return tree_map(lambda p, g: p - lr * g, params, grads), state

        return init, update

    b1, b2, eps = adam["beta1"], adam["beta2"], adam["eps"]

    def init(params):
        # m and v each their own buffers: the epoch donates both
        return (jnp.zeros((), jnp.int32), tree_map(jnp.zeros_like, params),
                tree_map(jnp.zeros_like, params))  # fmt: skip

    def update(params, grads, state, inputs):
        t, m_old, v_old = state
        t = t + 1
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, m_old, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v_old, grads)
        step = t.astype(jnp.float32)
        lr_t = lr * jnp.sqrt(1 - b2**step) / (1 - b1**step)
        new = tree_map(lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + eps), params, m, v)
        if lazy_rows is not None:  # the first W's other rows, and their moments, stay
            rows = lazy_rows(inputs)[:, None]

            def first_rows(stepped, kept):
                return ((jnp.where(rows, stepped[0][0], kept[0][0]), stepped[0][1]), *stepped[1:])

            new, m, v = first_rows(new, params), first_rows(m, m_old), first_rows(v, v_old)
        return new, (t, m, v)

    return init, update


def jax_epoch_function(jax, n, batch_size, optimizer, lr, adam=ADAM, sparse=False, n_in=None,
                       lazy=False, loop=False):  # fmt: skip
    """``(init, epoch)``: the optimizer's first state for some parameters, and one epoch
    ``epoch(params, state, inputs, y, order) -> (params, state)``.

    ``params`` is a tuple of ``(W, b)`` pairs, W of shape (n_in, n_out); ``inputs`` is
    ``(X,)`` for dense rows, ``(values, columns)`` of the padded rows (as
    :func:`~fastnn.bench.data.padded_rows` gives them) for sparse ones, each ``BCOO`` rows of
    ``n_in`` columns. The epoch is ``lax.scan`` over the full batches of ``order``, then the
    shorter last batch, each step the gradient of the batch's mean cross-entropy followed by
    the optimizer's update, jitted whole; with ``loop``, a Python loop over one jitted step
    per batch instead. Both donate the parameters and the optimizer's state.
    """
    jnp = jax.numpy
    n_full = n // batch_size

    if sparse:
        from jax.experimental import sparse as jsparse

        def first_layer(inputs, W):
            values, columns = inputs
            rows = jsparse.BCOO((values, columns[..., None]), shape=(values.shape[0], n_in))
            return rows @ W

        def touched(inputs):
            values, columns = inputs
            return jnp.zeros(n_in, bool).at[columns].max(values != 0)
    else:

        def first_layer(inputs, W):
            return inputs[0] @ W

        def touched(inputs):
            return jnp.any(inputs[0] != 0, axis=0)

    init, update = _jax_update(jax, optimizer, lr, adam, touched if lazy else None)

    def loss(params, inputs, yb):
        W, b = params[0]
        z = first_layer(inputs, W) + b
        for W, b in params[1:]:
            z = jax.nn.relu(z) @ W + b
        log_p = jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], axis=1))

    grad = jax.grad(loss)

    def step(carry, inputs, y, rows):
        params, state = carry
        batch = tuple(a[rows] for a in inputs)
        return update(params, grad(params, batch, y[rows]), state, batch)

    if loop:

        def batch_step(size):
            def run(params, state, inputs, y, order, first):
                rows = jax.lax.dynamic_slice_in_dim(order, first, size)
                return step((params, state), inputs, y, rows)

            return jax.jit(run, donate_argnums=(0, 1))

        full, tail = batch_step(batch_size), batch_step(n % batch_size) if n % batch_size else None

        def loop_epoch(params, state, inputs, y, order, n_rows=n):
            end = n_rows - n_rows % batch_size  # n_rows % batch_size is 0 or the tail's size
            for first in range(0, end, batch_size):
                params, state = full(params, state, inputs, y, order, first)
            if end < n_rows:
                params, state = tail(params, state, inputs, y, order, end)
            return params, state

        return init, loop_epoch

    def epoch(params, state, inputs, y, order):
        carry = (params, state)
        if n_full:
            batches = order[: n_full * batch_size].reshape(n_full, batch_size)
            carry, _ = jax.lax.scan(lambda c, rows: (step(c, inputs, y, rows), None), carry,
                                    batches)  # fmt: skip
        if n % batch_size:
            carry = step(carry, inputs, y, order[n_full * batch_size :])
        return carry

    return init, jax.jit(epoch, donate_argnums=(0, 1))


def _jax_data(jax, data, settings, cache, n):
    """The training rows, labels and order of the first ``n`` samples, and the test rows, on
    the CPU device: moved once per run (the training rows) or per slice (the order)."""
    cpu = jax.devices("cpu")[0]
    if "train" not in cache:
        if settings["sparse"]:
            from jax.experimental import sparse as jsparse

            inputs = padded_rows(data["X"])
            cache["test"] = jsparse.BCOO.from_scipy_sparse(data["X_test"])
        else:
            inputs = (data["X"],)
            cache["test"] = jax.device_put(data["X_test"], cpu)
        cache["train"] = tuple(jax.device_put(a, cpu) for a in inputs)
        cache["y"] = jax.device_put(data["y"].astype(np.int32), cpu)
    if ("order", n) not in cache:
        cache["order", n] = jax.device_put(visit_order(settings, n).astype(np.int32), cpu)
    return cache["train"], cache["y"], cache["order", n], cache["test"]


def jax_job(jax, data, regime, n, settings, cache, style="scan"):
    """JAX: the epoch (``style="scan"``: jitted whole; ``"loop"``: a jitted step in a Python
    loop) until its result is ready is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    sparse, weights = settings["sparse"], settings["weights"]
    inputs, y, order, X_test = _jax_data(jax, data, settings, cache, n)
    cpu = jax.devices("cpu")[0]
    init, epoch_fn = jax_epoch_function(
        jax, n, batch_size, settings["optimizer"], lr, settings["adam"], sparse=sparse,
        n_in=settings["widths"][0], lazy=settings["lazy"], loop=style == "loop",
    )  # fmt: skip
    state = {}

    def fresh():  # new buffers every time: the epoch donates them
        params = tuple((jax.device_put(W, cpu), jax.device_put(b, cpu)) for W, b in weights)
        return params, init(params)

    def compiled():
        if style == "loop":
            return epoch_fn
        if "compiled" not in state:  # ahead of time, for the real shapes
            state["compiled"] = epoch_fn.lower(*fresh(), inputs, y, order).compile()
        return state["compiled"]

    def run_epoch(params, opt_state, *rows):
        with warnings.catch_warnings():  # where XLA cannot reuse a donated buffer, it copies
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            return jax.block_until_ready(compiled()(params, opt_state, inputs, y, order, *rows))

    def prepare():
        state["params"], state["optimizer"] = jax.block_until_ready(fresh())

    def epoch():
        state["params"], state["optimizer"] = run_epoch(state["params"], state["optimizer"])

    def warm_up():
        if style == "scan":
            compiled()
        else:  # compiles the step of a full batch and of the last, shorter one
            run_epoch(*fresh(), min(n, batch_size + n % batch_size))

    def accuracy():
        z = X_test @ state["params"][0][0] + state["params"][0][1]
        for W, b in state["params"][1:]:
            z = jax.nn.relu(z) @ W + b
        return float(np.mean(np.asarray(z).argmax(axis=1) == data["y_test"]))

    def trained_weights():
        return [(np.asarray(W).copy(), np.asarray(b).copy()) for W, b in state["params"]]

    def release():
        state.pop("params", None)
        state.pop("optimizer", None)

    what = "jit step, Python loop" if style == "loop" else "jit, lax.scan"
    return Job(f"JAX{' BCOO' if sparse else ''} ({what})", regime, batch_size, lr, n, "XLA",
               prepare, epoch, accuracy, "jax", weights=trained_weights, warm_up=warm_up,
               release=release)  # fmt: skip


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
    """scikit-learn's MLPClassifier: one ``partial_fit`` call, one epoch over the rows that
    knows every class (a slice may lack one), is the timed region."""
    batch_size, lr = settings["batch_sizes"][regime], settings["lrs"][regime]
    X, y = data["X"][:n], data["y"][:n]
    classes = np.arange(settings["widths"][-1])
    classifier = _sklearn_classifier(module, settings["weights"], notes)
    if settings["optimizer"] == "adam":
        a = settings["adam"]
        solver = dict(solver="adam", beta_1=a["beta1"], beta_2=a["beta2"], epsilon=a["eps"])
    else:
        solver = dict(solver="sgd", momentum=0.0, nesterovs_momentum=False)
    state = {}

    def new_model():
        return classifier(
            hidden_layer_sizes=tuple(settings["hidden"]),
            activation="relu",
            batch_size=batch_size,
            learning_rate="constant",
            learning_rate_init=lr,
            alpha=0.0,
            max_iter=1,
            shuffle=settings["shuffle"],
            random_state=settings["seed"],
            **solver,
        )

    def prepare():
        state["model"] = new_model()

    def epoch():
        state["model"].partial_fit(X, y, classes=classes)

    def warm_up():
        rows = max(settings["warmup_samples"], batch_size)  # fewer rows than a batch: it warns
        new_model().partial_fit(X[:rows], y[:rows], classes=classes)

    def accuracy():
        return float(state["model"].score(data["X_test"], data["y_test"]))

    def trained_weights():
        model = state["model"]
        return [(W.copy(), b.copy()) for W, b in zip(model.coefs_, model.intercepts_)]

    label, threads = "scikit-learn MLPClassifier", blas_threads()
    return Job(label, regime, batch_size, lr, n, threads, prepare, epoch, accuracy, "sklearn",
               weights=trained_weights, warm_up=warm_up if settings["warmup_samples"] else None,
               release=state.clear)  # fmt: skip


__all__ = [
    "PEERS",
    "PEER_NAMES",
    "import_peer",
    "jax_epoch_function",
    "jax_job",
    "peer_jobs",
    "sklearn_job",
    "torch_bag_network",
    "torch_job",
    "torch_network",
]
