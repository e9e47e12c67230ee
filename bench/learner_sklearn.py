# One scikit-learn run for bench/learner.mjs, in its own process (peak RSS of its own): fit on the
# train CSV, evaluate on the holdout CSV, dump and load with joblib, time predictions. Prints one
# JSON line. Runs under Debian's /usr/bin/python3 with python3-sklearn.
#
#   /usr/bin/python3 bench/learner_sklearn.py train.csv holdout.csv rf|hgb n_jobs out.joblib
import json
import os
import resource
import sys
import time

import joblib
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import mean_absolute_error, r2_score


def load(path):
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    t = header.index("engagement_score")
    return np.delete(data, t, axis=1), data[:, t]


train_path, holdout_path, algo, n_jobs, out = sys.argv[1:6]
X, y = load(train_path)
Xh, yh = load(holdout_path)
if algo == "rf":
    model = RandomForestRegressor(n_estimators=100, random_state=42, n_jobs=int(n_jobs))
else:
    model = HistGradientBoostingRegressor(random_state=42)
t = time.perf_counter()
model.fit(X, y)
fit = time.perf_counter() - t
pred = model.predict(Xh)

joblib.dump(model, out)
size = os.path.getsize(out)
t = time.perf_counter()
model = joblib.load(out)
load_ms = (time.perf_counter() - t) * 1000

one = []
for i in range(60):
    row = Xh[i % len(Xh) : i % len(Xh) + 1]
    t = time.perf_counter()
    model.predict(row)
    one.append((time.perf_counter() - t) * 1e6)
batch_x = Xh[np.arange(1000) % len(Xh)]
batch = []
for i in range(12):
    t = time.perf_counter()
    model.predict(batch_x)
    batch.append((time.perf_counter() - t) * 1000)

print(
    json.dumps(
        {
            "fitSeconds": fit,
            "r2": r2_score(yh, pred),
            "mae": mean_absolute_error(yh, pred),
            "artifactBytes": size,
            "loadMs": load_ms,
            "oneRowMicros": float(np.median(one)),
            "batchMs": float(np.median(batch[2:])),
            "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "iterations": int(getattr(model, "n_iter_", 0)),
        }
    )
)
