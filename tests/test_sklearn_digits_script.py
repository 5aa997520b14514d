"""benchmarks/bench_sklearn_digits.py: scikit-learn's MLPClassifier beside FastMLPClassifier in
float64 and float32, the same scores, with the median fit time and its spread over rounds."""

import json

import pytest

from conftest import load_script

pytestmark = pytest.mark.slow


def test_the_digits_table_and_its_results_file(tmp_path, capsys, monkeypatch):
    script = load_script("bench_sklearn_digits")
    path = tmp_path / "digits.json"
    settled = []
    monkeypatch.setattr(script, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(script, "_settle", lambda settle=script._settle: settled.append(settle()))
    script.main(["--digits-max-iter", "3", "--repeats", "2", "--no-mnist", "--json", str(path)])
    assert len(settled) == 2 * 3  # a pause before each estimator's cross-validation, each round
    out = capsys.readouterr().out
    assert "median of 2" in out and 'dtype="float32"' in out
    rows = json.loads(path.read_text())["results"]
    assert [row["estimator"] for row in rows] == [
        "MLPClassifier(random_state=0)",
        "FastMLPClassifier(random_state=0)",
        'FastMLPClassifier(random_state=0, dtype="float32")',
    ]
    low, high = rows[1]["speedup_range"]
    assert 0 < low <= high
    assert rows[0]["speedup"] == 1.0 and rows[0]["speedup_range"] == [1.0, 1.0]
    # the same model: the same accuracy in float64, about it in float32
    assert rows[1]["accuracy"] == pytest.approx(rows[0]["accuracy"], abs=1e-12)
    assert rows[2]["accuracy"] == pytest.approx(rows[0]["accuracy"], abs=0.02)
