"""``fastnn predict``: one prediction per input row (or image), as CSV.

The rows are read by :func:`fastnn.io.read_rows`, the way the model's training data was read
(its feature columns, its svmlight width and index base, its image size), with every size a
file declares checked before anything is allocated.
"""

import csv
import io
import sys

import numpy as np

from .._codes import CLASSIFICATION_LOSSES
from .._files import atomic_write
from ..io import format_of, read_rows
from .options import (
    BACKEND,
    MODEL,
    UsageError,
    input_file,
    load_model,
    not_an_input,
    output_file,
)

DESCRIPTION = (
    "Load a model saved by `fastnn train --save` and print one prediction per input row (a "
    "header line first). INPUT is a .npy array (one row per sample, or images shaped like the "
    "model's: 28x28 or 8x8, alone or stacked), a .npz sparse matrix written by "
    "scipy.sparse.save_npz (CSR, CSC, COO or BSR; one row per sample, passed to the model "
    "without making it dense), a .csv file (with a header naming the model's feature columns, "
    "or bare numeric rows), an svmlight/libsvm file (.svm, .svmlight, .libsvm or "
    "svmlight:PATH; read with the model's width and index base, labels ignored), or a .png "
    "image for the digit models (the model's size; transparency is flattened onto the "
    "background the drawing stands out on; needs Pillow, which matplotlib brings). Raw rows "
    "are standardised by the model with the statistics it keeps, and regression models "
    "answer in the target's units. --output may not name the model or the input file."
)


def add_options(parser):
    MODEL.add(parser)
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="a .npy, .npz (scipy.sparse.save_npz), .csv, svmlight (.svm, .svmlight, .libsvm or "
        "svmlight:PATH) or .png file",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        default=None,
        help="write the predictions as CSV to PATH (not the model or the input file)",
    )
    parser.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability (classification models)",
    )
    parser.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="images only: invert grey levels; the models expect light digits on a dark "
        "background, and auto inverts images whose mean is above 0.5, after a PNG's "
        "transparency is flattened (default: auto)",
    )
    BACKEND.add(parser)


def input_path(text):
    """The file INPUT names, and its format: ``svmlight:PATH`` names an svmlight file whatever
    its suffix; otherwise the suffix says (None for one that no reader knows)."""
    kind, colon, rest = text.partition(":")
    if colon and kind == "svmlight" and rest:
        return rest, "svmlight"
    return text, format_of(text)


def _predictions(model, X, proba):
    """The CSV text: a header, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if model.loss not in CLASSIFICATION_LOSSES:  # regression
        values = model.predict(X).reshape(X.shape[0], -1).astype(np.float64)
        n_out = values.shape[1]
        writer.writerow(["prediction"] if n_out == 1 else [f"prediction_{j}" for j in range(n_out)])
        writer.writerows([[f"{v:.6g}" for v in row] for row in values])
        return buffer.getvalue()
    probabilities = model.predict_proba(X)
    names = model.metadata.get("classes") or [str(j) for j in range(probabilities.shape[1])]
    writer.writerow(["prediction"] + ([f"p_{name}" for name in names] if proba else []))
    for label, row in zip(probabilities.argmax(axis=1), probabilities):
        writer.writerow([names[label], *([f"{p:.6f}" for p in row] if proba else [])])
    return buffer.getvalue()


def run(args):
    path, kind = input_path(args.input)
    if args.output is not None:
        output_file(args.output, "--output")
        not_an_input(
            args.output, "--output", {"the model file": args.model, "the input file": path}
        )
    model = load_model(args.model, args.backend)
    if args.proba and model.loss not in CLASSIFICATION_LOSSES:
        raise UsageError("--proba needs a classification model; this one does regression")
    input_file(path, "input file")
    if kind is None:
        raise UsageError(
            "INPUT must be a .npy, .npz, .csv, .png or svmlight (.svm, .svmlight, .libsvm, "
            f"svmlight:PATH) file; got {path!r}"
        )
    X = read_rows(path, model, invert=args.invert, format=kind)
    text = _predictions(model, X, args.proba)
    if args.output:
        with atomic_write(args.output, "w") as f:
            f.write(text)
        print(f"wrote {X.shape[0]} prediction(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
