"""Name tables shared by the Python layer and both backends.

Kernels take small integers instead of strings, so that one compiled function serves every
activation and loss. Each table maps the public name to that integer.
"""

IDENTITY, RELU, SIGMOID, TANH = 0, 1, 2, 3

ACTIVATIONS = {None: IDENTITY, "linear": IDENTITY, "relu": RELU, "sigmoid": SIGMOID, "tanh": TANH}
ACTIVATION_NAMES = {IDENTITY: None, RELU: "relu", SIGMOID: "sigmoid", TANH: "tanh"}

SOFTMAX_CROSS_ENTROPY, BINARY_CROSS_ENTROPY, MSE = 0, 1, 2

LOSSES = {
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "mse": MSE,
}

# Columns of the layer layout table (one int64 row per dense layer) that the epoch kernels read.
W_OFFSET, B_OFFSET, N_IN, N_OUT, ACT = 0, 1, 2, 3, 4
