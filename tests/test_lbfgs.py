"""The full-batch gradient kernel (numba vs numpy vs the naive oracle, and against finite
differences) and L-BFGS training."""

import numpy as np
import pytest

import fastnn as fn
import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn._codes import LOSSES

import naive
from helpers import LOSS_NAMES, make_model, make_problem, sample_weights


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("chunk", [7, 4096])
def test_full_batch_gradient_matches_the_oracle(loss, weighted, chunk):
    X, y, n_out = make_problem(loss, seed=2)
    model = make_model(loss, X.shape[1], n_out, "numpy")
    data = model._epoch_data(X, y, sample_weights(weighted))
    results = {}
    for module in (numba_backend, numpy_backend, naive):
        grads = np.full_like(model._params, np.nan)
        value = module.full_batch_gradient(model._params, model._layout, data,
                                           LOSSES[model.loss], chunk, grads)  # fmt: skip
        results[module.__name__] = (value, grads)
    ref_value, ref_grads = results["naive"]
    assert np.abs(ref_grads).max() > 1e-4
    for name, (value, grads) in results.items():
        assert value == pytest.approx(ref_value, rel=1e-12), name
        np.testing.assert_allclose(grads, ref_grads, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_lbfgs_objective_gradient_matches_finite_differences(backend):
    from fastnn.lbfgs import _Objective

    X, y, n_out = make_problem("softmax_cross_entropy", seed=3, n=15)
    model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend)
    data = model._epoch_data(X, y, np.linspace(0.5, 2.0, 15))
    objective = _Objective(model, data, l2=0.05)
    x = model._params.astype(np.float64).copy()
    _, grad = objective(x)
    eps = 1e-6
    for i in np.flatnonzero(grad)[::7]:
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (objective(up)[0] - objective(down)[0]) / (2 * eps)
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_lbfgs_trains_to_the_same_point_on_both_backends():
    X, y, n_out = make_problem("softmax_cross_entropy", seed=4, n=120, zeros=0.0)
    trained = {}
    for backend in ("numba", "numpy"):
        model = make_model("softmax_cross_entropy", X.shape[1], n_out, backend)
        opt = fn.LBFGS(max_iter=25, l2=1e-3)
        history = model.fit(X, y, optimizer=opt, verbose=0)
        assert opt.n_iter_ == len(history.epoch) == 25
        assert history.history["loss"][-1] < history.history["loss"][0]
        trained[backend] = (model.get_weights(), opt.result_.fun)
    assert trained["numba"][1] == pytest.approx(trained["numpy"][1], rel=1e-9)
    for (Wa, _), (Wb, _) in zip(trained["numba"][0], trained["numpy"][0]):
        np.testing.assert_allclose(Wa, Wb, rtol=1e-6, atol=1e-8)


def test_lbfgs_refuses_l1_and_bad_arguments():
    with pytest.raises(ValueError, match="l1 must be 0 with LBFGS"):
        fn.LBFGS(l1=0.1)
    with pytest.raises(ValueError, match="max_iter must be"):
        fn.LBFGS(max_iter=0)
