#!/usr/bin/env python3
"""Writes the benchmark inputs of pypickle-pickle (not committed: large and reproducible).

    python3 formats/pickle/benches/make_bench_files.py [DIR]

DIR defaults to target/bench-data at the workspace root (the benches look there, or in
$PYPICKLE_BENCH_DIR). Files:

- dense.pkl: 300 000 small dicts, protocol 4 (about 14 MB): opcode-dense, memo-heavy;
- array.pkl: a 128 MiB float64 numpy array, protocol 4: one large BINBYTES payload;
- sklearn.pkl: a fitted scikit-learn estimator (if scikit-learn is installed), protocol 5.
"""

import os
import pickle
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "bench-data")
    os.makedirs(out, exist_ok=True)

    dense = [
        {"id": i, "name": "user%06d" % i, "score": i * 0.5, "active": i % 3 == 0, "group": i % 7}
        for i in range(300_000)
    ]
    write(out, "dense.pkl", pickle.dumps(dense, protocol=4))

    try:
        import numpy as np
    except ImportError:
        print("numpy is not installed: array.pkl not written", file=sys.stderr)
    else:
        array = np.arange(16 * 1024 * 1024, dtype=np.float64)
        write(out, "array.pkl", pickle.dumps(array, protocol=4))

    try:
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        print("scikit-learn is not installed: sklearn.pkl not written", file=sys.stderr)
    else:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(2000, 20))
        y = (x[:, 0] + x[:, 1] > 0).astype(int)
        model = RandomForestClassifier(n_estimators=50, random_state=0).fit(x, y)
        write(out, "sklearn.pkl", pickle.dumps(model, protocol=5))


def write(out, name, data):
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(data)
    print("%s: %.1f MB" % (path, len(data) / 1e6))


if __name__ == "__main__":
    main()
