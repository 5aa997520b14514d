"""MNIST epochs on dense rows and on the same rows as CSR, in one interleaved run.

This is ``fastnn bench --csr --repeat 5`` (see :mod:`fastnn.bench`): the numba backend trains
784-128-10 ReLU in float32 from the same initial weights, in the same order, on the dense
training images and on a ``scipy.sparse.csr_matrix`` of them (19% of the pixels are nonzero),
per sample and in batches; the row ``fastnn numba, CSR rows`` gives the CSR epoch's time over
the dense one's (its numba speed-up) and its test accuracy. Any ``fastnn bench`` option may
follow, such as ``--hidden 1024``, ``--samples 600`` (a smoke test) or ``--repeat 3``.

    python benchmarks/mnist_csr.py [fastnn bench options]
"""

import sys

from fastnn.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--csr", "--repeat", "5", *sys.argv[1:]]))
