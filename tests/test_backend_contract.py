"""The backend contract, checked by code: both backends (and the oracle) provide every function
``fastnn.backend.KERNELS`` lists, with one signature per name."""

import inspect

import pytest

import fastnn.kernels as numba_backend
import fastnn.numpy_backend as numpy_backend
from fastnn.backend import KERNELS

import naive


def _parameters(function):
    function = getattr(function, "py_func", function)  # a Numba dispatcher wraps the function
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("name", KERNELS)
def test_both_backends_provide_the_kernel_with_one_signature(name):
    assert hasattr(numba_backend, name), f"fastnn.kernels lacks {name}"
    assert hasattr(numpy_backend, name), f"fastnn.numpy_backend lacks {name}"
    expected = _parameters(getattr(numpy_backend, name))
    assert _parameters(getattr(numba_backend, name)) == expected
    assert _parameters(getattr(naive, name)) == expected  # the oracle mirrors them too


def test_the_contract_lists_every_public_kernel():
    assert set(numba_backend.__all__) == set(KERNELS)
