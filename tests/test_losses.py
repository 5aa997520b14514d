import numpy as np
import pytest

import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend

from conftest import DTYPES, SEEDS, assert_agree, call_all


def _logits(seed, dtype, m=6, k=5, scale=3.0):
    return np.random.default_rng(seed).normal(0, scale, (m, k)).astype(dtype)


NO_WEIGHTS = np.empty(0)
WEIGHTINGS = ["none", "weights", "with-zero"]


def _weights(kind, dtype, m=6, seed=0):
    """No weights (an empty array), positive weights, or weights with zeros among them."""
    if kind == "none":
        return np.empty(0, dtype)
    w = np.random.default_rng(seed + 50).uniform(0.1, 3.0, m)
    if kind == "with-zero":
        w[[0, 3]] = 0
    return w.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_parity(dtype, seed):
    z = _logits(seed, dtype)
    assert_agree(call_all("softmax", z, np.empty_like(z)), dtype, positions=[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("shape", [(6, 5), (16, 2), (65, 10), (200, 37)])
def test_softmax_cross_entropy_parity(dtype, seed, weighting, shape):
    """Row by row (a few rows) and a class at a time (16 rows or more, by 64 rows)."""
    m, k = shape
    z = _logits(seed, dtype, m=m, k=k)
    labels = np.random.default_rng(seed).integers(0, k, m)
    w = _weights(weighting, dtype, m=m, seed=seed)
    results = call_all("softmax_cross_entropy", z, labels, w, np.empty_like(z))
    assert_agree(results, dtype, positions=[3], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_binary_cross_entropy_parity(dtype, seed, k, weighting):
    z = _logits(seed, dtype, k=k)
    y = np.random.default_rng(seed).integers(0, 2, z.shape).astype(dtype)
    w = _weights(weighting, dtype, seed=seed)
    results = call_all("binary_cross_entropy", z, y, w, np.empty_like(z))
    assert_agree(results, dtype, positions=[3], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_mean_squared_error_parity(dtype, seed, k, weighting):
    out = _logits(seed, dtype, k=k)
    y = _logits(seed + 100, dtype, k=k)
    w = _weights(weighting, dtype, seed=seed)
    results = call_all("mean_squared_error", out, y, w, np.empty_like(out))
    assert_agree(results, dtype, positions=[3], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_poisson_parity(dtype, seed, k, weighting):
    z = _logits(seed, dtype, k=k, scale=1.0)
    y = np.random.default_rng(seed).poisson(2.0, z.shape).astype(dtype)  # zeros included
    w = _weights(weighting, dtype, seed=seed)
    results = call_all("poisson", z, y, w, np.empty_like(z))
    assert_agree(results, dtype, positions=[3], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_loss_table_and_weighted_counts_agree(dtype, weighting):
    from fastnn._codes import LOSSES

    rng = np.random.default_rng(9)
    w = _weights(weighting, dtype)
    for name, code in LOSSES.items():
        k = 1 if name == "binary_cross_entropy" else 3
        z = _logits(1, dtype, k=k)
        labels = rng.integers(0, k, 6) if name == "softmax_cross_entropy" else np.empty(0, int)
        targets = np.abs(rng.normal(size=(6, k))).astype(dtype)
        if name == "binary_cross_entropy":
            targets = (targets > 0.7).astype(dtype)
        results = call_all("loss_and_grad", code, z, labels, targets, w, np.empty_like(z))
        assert_agree(results, dtype, positions=[5], compare_value=True)
        counts = call_all("n_correct", code, z, labels, targets, w)
        assert_agree(counts, dtype, positions=[], compare_value=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("m, edges", [(6, [0, 2, 3, 6]), (200, [0, 64, 130, 200])])
def test_a_batch_loss_taken_by_blocks_of_rows_is_the_batch_loss(dtype, weighting, m, edges):
    """The mini-batch epoch takes a batch's loss by blocks of rows (``rows_loss_and_grad``
    with the batch's size and weight): each row's gradient is the same bits as the whole
    batch's, and the blocks' terms, added in order, are its mean up to rounding. Blocks of
    at least 16 rows go a class at a time, in stretches of 64 rows that start elsewhere than
    the whole batch's."""
    from fastnn._codes import LOSSES
    from fastnn.kernels.losses import _total_weight, loss_and_grad, rows_loss_and_grad

    rng = np.random.default_rng(11)
    w = _weights(weighting, dtype, m=m)
    for name, code in LOSSES.items():
        k = 1 if name == "binary_cross_entropy" else 3
        z = _logits(2, dtype, m=m, k=k)
        labels = rng.integers(0, k, m) if name == "softmax_cross_entropy" else np.empty(0, int)
        targets = np.abs(rng.normal(size=(m, k))).astype(dtype)
        if name == "binary_cross_entropy":
            targets = (targets > 0.7).astype(dtype)
        whole = np.empty_like(z)
        mean = loss_and_grad(code, z, labels, targets, w, whole)
        total = _total_weight(m, w)
        parts, blocks = 0.0, np.empty_like(z)
        for r0, r1 in zip(edges[:-1], edges[1:]):
            rows = slice(r0, r1)
            parts += rows_loss_and_grad(code, z[rows], labels[rows] if labels.size else labels,
                                        targets[rows], w[rows] if w.size else w, blocks[rows], m,
                                        total)  # fmt: skip
        np.testing.assert_array_equal(blocks, whole, err_msg=name)
        np.testing.assert_allclose(parts, mean, rtol=1e-14, atol=1e-300, err_msg=name)  # 200 terms
        assert parts != 0


@pytest.mark.parametrize("backend", [numba_backend, numpy_backend])
@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_are_stable_for_any_logit(backend, dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1e4, -1e4 + 1, -1e4 + 2]], dtype)
    grad = np.empty_like(z)
    loss = backend.softmax_cross_entropy(z, np.array([1, 2]), NO_WEIGHTS, grad)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    # row 0: label 1 has logit -1000 below the max: loss 2000 / 2 rows + row 1's small loss
    assert loss == pytest.approx((2000 + np.log(1 + np.exp(-1) + np.exp(-2))) / 2, rel=1e-5)
    z1 = np.array([[1000.0], [-1000.0], [80.0]], dtype)
    loss = backend.binary_cross_entropy(
        z1, np.array([[0.0], [1.0], [1.0]], dtype), NO_WEIGHTS, np.empty_like(z1)
    )
    assert loss == pytest.approx(2000 / 3, rel=1e-5)


@pytest.mark.parametrize("backend", [numba_backend, numpy_backend])
@pytest.mark.parametrize(
    "name", ["softmax_cross_entropy", "binary_cross_entropy", "mean_squared_error", "poisson"]
)
@pytest.mark.parametrize("weighting", ["none", "weights"])
def test_loss_gradient_matches_finite_differences(backend, name, weighting):
    rng = np.random.default_rng(7)
    k = 1 if name == "binary_cross_entropy" else 4
    z = rng.normal(size=(5, k))
    if name == "softmax_cross_entropy":
        y = rng.integers(0, k, 5)
    elif name == "binary_cross_entropy":
        y = rng.integers(0, 2, (5, 1)).astype(float)
    elif name == "poisson":
        y = rng.poisson(1.5, (5, k)).astype(float)
    else:
        y = rng.normal(size=(5, k))
    w = _weights(weighting, np.float64, m=5)
    loss_fn = getattr(backend, name)

    def fn(z, y, grad):
        return loss_fn(z, y, w, grad)

    grad = np.empty_like(z)
    fn(z, y, grad)
    eps = 1e-5
    numeric = np.empty_like(z)
    scratch = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (fn(up, y, scratch) - fn(down, y, scratch)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


EXTREMES = {np.float64: [1e8, 1e12, 1e16, 1e100, 1e300], np.float32: [1e8, 1e12, 1e16, 1e30, 1e38]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax_cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("copies", [1, 5])
def test_losses_are_exact_at_extreme_logits(dtype, name, copies):
    """A huge logit next to a small loss: the sum over samples keeps every sample's loss.

    Summed naively with reassociation, ``total + (log_norm - z_y)`` becomes
    ``(total + log_norm) - z_y``, which loses the small losses entirely at these scales.
    Five copies of the rows take the softmax a class at a time.
    """
    for big in EXTREMES[dtype]:
        if name == "softmax_cross_entropy":
            z = np.array([[0.0, 0.0], [0.0, big], [big, 0.0], [1.0, -1.0]] * copies, dtype)
            y = np.array([0, 1, 0, 1] * copies)
        else:
            z = np.array([[0.0], [big], [-big], [1.0]] * copies, dtype)
            y = np.array([[1.0], [1.0], [0.0], [0.0]] * copies, dtype)
        results = call_all(name, z, y, NO_WEIGHTS, np.empty_like(z))
        expected = results["naive"][0]
        assert expected > 0.1  # the small losses are there: log 2 and log(1 + e^2)
        for label in ("numba", "numpy"):
            assert results[label][0] == pytest.approx(expected, rel=1e-6), (label, big)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_evaluate_and_minibatch_loss_are_exact_at_extreme_logits(backend, dtype):
    import fastnn as fn

    model = fn.Sequential([fn.Dense(1, 2)], dtype=dtype, backend=backend)
    model.set_weights([(np.array([[0.0, 1.0]]), np.zeros(2))])
    X, y = np.array([[0.0], [1e16]]), np.array([0, 1])
    assert model.evaluate(X, y)["loss"] == pytest.approx(np.log(2) / 2, rel=1e-6)
    history = model.fit(X, y, batch_size=2, shuffle=False, verbose=0,
                        optimizer=fn.SGD(lr=1e-30))  # fmt: skip
    assert history.history["loss"][0] == pytest.approx(np.log(2) / 2, rel=1e-6)
