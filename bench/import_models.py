"""Side of bench/import.mjs that runs in Python: fits the two models once (cached), and times the
libraries' own predict. Run by the Node script with Debian's /usr/bin/python3.

  fit DIR ROWS       -> DIR/forest.joblib (100 trees, full depth), DIR/xgboost.json (300 rounds),
                        DIR/rows.json (1,000 rows to predict)
  time DIR           -> JSON: one-row and 1,000-row predict times of both, and their predictions
"""
import json
import os
import statistics
import sys
import time

import joblib
import numpy as np


def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    cols = [
        np.clip(rng.normal(15, 8, n), 1, 60),
        np.clip(rng.normal(5, 2, n), 1, 14),
        np.clip(rng.normal(70, 15, n), 0, 100),
        np.clip(rng.normal(6, 2, n), 1, 10),
    ]
    X = np.column_stack(cols)
    y = 0.3 * X[:, 0] / 60 * 100 + 0.3 * X[:, 1] / 14 * 100 + 0.2 * X[:, 2] + 0.2 * X[:, 3] / 10 * 100
    return X, y + rng.normal(0, 2, n)


FEATURES = ["avg_session_duration", "visits_per_week", "response_rate", "feature_usage_depth"]


def fit(out, rows):
    from sklearn.ensemble import RandomForestRegressor
    import xgboost as xgb
    import pandas as pd

    X, y = synthetic(rows, 1)
    frame = pd.DataFrame(X, columns=FEATURES)
    t = time.perf_counter()
    forest = RandomForestRegressor(n_estimators=100, n_jobs=-1, random_state=1).fit(frame, y)
    forest_s = time.perf_counter() - t
    forest.set_params(n_jobs=1)  # predict single-threaded, like one backend request
    joblib.dump(forest, os.path.join(out, "forest.joblib"))
    t = time.perf_counter()
    booster = xgb.XGBRegressor(n_estimators=300, max_depth=6, learning_rate=0.1, random_state=1, n_jobs=2).fit(frame, y)
    xgb_s = time.perf_counter() - t
    booster.save_model(os.path.join(out, "xgboost.json"))
    test, _ = synthetic(1000, 2)
    with open(os.path.join(out, "rows.json"), "w") as f:
        json.dump({"rows": test.tolist(), "fit_seconds": {"forest": forest_s, "xgboost": xgb_s},
                   "nodes": int(sum(e.tree_.node_count for e in forest.estimators_))}, f)


def median_ms(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def timing(out):
    import pandas as pd
    import xgboost as xgb

    rows = np.array(json.load(open(os.path.join(out, "rows.json")))["rows"])
    frame = pd.DataFrame(rows, columns=FEATURES)
    forest = joblib.load(os.path.join(out, "forest.joblib"))
    booster = xgb.XGBRegressor()
    booster.load_model(os.path.join(out, "xgboost.json"))
    booster.set_params(n_jobs=1)
    result = {}
    for name, model in (("forest", forest), ("xgboost", booster)):
        one = frame.iloc[[0]]
        model.predict(one)  # warm
        result[name] = {
            "one_row_ms": median_ms(lambda: model.predict(one), 200),
            "batch_1000_ms": median_ms(lambda: model.predict(frame), 15),
            "predictions": model.predict(frame).astype(float).tolist(),
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]))
    else:
        timing(sys.argv[2])
