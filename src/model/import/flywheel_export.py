"""Flywheel's scikit-learn exporter: reads a fitted tree-ensemble regressor from a joblib or pickle
file and writes Flywheel's interchange format ("flywheel-trees", JSON Lines: a header line, then one
line per tree). `flywheel import` runs it; Node itself never unpickles anything.

Usage: python3 flywheel_export.py MODEL_FILE OUT_FILE

Only the fitted estimator's public tree arrays are read (tree_.children_left, feature, threshold,
value..., HistGradientBoosting's predictor nodes). On failure it exits 3 and writes one JSON line
{"code": "FLY_ERR_...", "message": "..."} as the last line of stderr.

Loading a pickle runs code from the file, exactly as joblib.load in the user's own script would:
import only files you trust.
"""
import json
import sys

SUPPORTED = (
    "RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor, "
    "GradientBoostingRegressor, HistGradientBoostingRegressor"
)


class ExportError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fail(code, message):
    raise ExportError(code, message)


def load(path):
    try:
        import sklearn  # noqa: F401 (the estimators' classes must be importable to unpickle them)
    except ImportError:
        fail("FLY_ERR_PYTHON", "scikit-learn is not installed for %s (pass --python with one that has it)" % sys.executable)
    try:
        import joblib
    except ImportError:
        joblib = None
    try:
        if joblib is not None:
            return joblib.load(path)
        import pickle

        with open(path, "rb") as f:
            return pickle.load(f)
    except ExportError:
        raise
    except ImportError as err:
        fail("FLY_ERR_PYTHON", "the file needs a module this Python lacks: %s" % err)
    except Exception as err:  # a truncated, edited or foreign file: whatever unpickling raises
        fail("FLY_ERR_IMPORT_FORMAT", "not a joblib or pickle file Python can load: %s: %s" % (type(err).__name__, err))


def unwrap(obj):
    """The estimator and feature names: the lab's {"model", "feature_names"} dict, a bare estimator,
    or a Pipeline whose only step is the estimator."""
    names = None
    if isinstance(obj, dict):
        if "model" not in obj:
            fail("FLY_ERR_IMPORT_UNSUPPORTED", "the file holds a dict without a \"model\" key (keys: %s); supported: %s, "
                 "alone or as {\"model\": ..., \"feature_names\": [...]}" % (", ".join(sorted(map(str, obj.keys())))[:200], SUPPORTED))
        names = obj.get("feature_names")
        obj = obj["model"]
    try:
        from sklearn.pipeline import Pipeline
    except ImportError:
        Pipeline = None
    if Pipeline is not None and isinstance(obj, Pipeline):
        steps = [s for _, s in obj.steps if s not in (None, "passthrough")]
        if len(steps) != 1:
            fail("FLY_ERR_IMPORT_UNSUPPORTED", "a Pipeline with transformers (%s) is not supported: Flywheel serves the "
                 "estimator alone on raw features; supported: %s" % (", ".join(type(s).__name__ for s in steps[:-1]), SUPPORTED))
        obj = steps[0]
    if names is not None:
        names = [str(n) for n in list(names)]
    return obj, names


def tree_arrays(tree, scale=1.0):
    """A scikit-learn Tree object as interchange arrays (`x <= threshold` goes left)."""
    t = tree
    if t.n_outputs != 1:
        fail("FLY_ERR_IMPORT_UNSUPPORTED", "multi-output trees are not supported: Flywheel serves one output")
    left = t.children_left.tolist()
    right = t.children_right.tolist()
    value = (t.value[:, 0, 0] * scale).tolist() if scale != 1.0 else t.value[:, 0, 0].tolist()
    out = {
        "left": left,
        "right": right,
        "feature": t.feature.tolist(),
        "threshold": t.threshold.tolist(),
        "value": value,
    }
    if hasattr(t, "missing_go_to_left"):  # scikit-learn >= 1.3 trees know where missing values go
        out["default_left"] = [int(v) for v in t.missing_go_to_left.tolist()]
    else:
        # Before 1.3 a tree refuses missing values; send them where most training rows went, as
        # later releases do for features that had no missing values in training.
        n = t.n_node_samples
        out["default_left"] = [int(l >= 0 and n[l] >= n[r]) for l, r in zip(left, right)]
    return out


def hist_tree_arrays(predictor):
    nodes = predictor.nodes
    if "is_categorical" in nodes.dtype.names and nodes["is_categorical"].any():
        fail("FLY_ERR_IMPORT_UNSUPPORTED", "HistGradientBoostingRegressor with categorical splits is not supported")
    leaf = nodes["is_leaf"].astype(bool)
    left = [(-1 if lf else int(c)) for lf, c in zip(leaf.tolist(), nodes["left"].tolist())]
    right = [(-1 if lf else int(c)) for lf, c in zip(leaf.tolist(), nodes["right"].tolist())]
    return {
        "left": left,
        "right": right,
        "feature": nodes["feature_idx"].tolist(),
        "threshold": nodes["num_threshold"].tolist(),
        "value": nodes["value"].tolist(),
        "default_left": [int(v) for v in nodes["missing_go_to_left"].tolist()],
    }


def describe(est):
    import sklearn
    from sklearn.base import is_classifier

    kind = type(est).__name__
    origin = {"library": "scikit-learn", "library_version": sklearn.__version__, "estimator": kind}
    if is_classifier(est):
        fail("FLY_ERR_IMPORT_UNSUPPORTED", "%s is a classifier: Flywheel serves regressors (%s)" % (kind, SUPPORTED))
    if getattr(est, "n_outputs_", 1) != 1:
        fail("FLY_ERR_IMPORT_UNSUPPORTED", "%s has %d outputs: Flywheel serves models with one output" % (kind, est.n_outputs_))
    if not hasattr(est, "n_features_in_"):
        fail("FLY_ERR_IMPORT_UNSUPPORTED", "%s is not a fitted estimator Flywheel can serve; supported: %s" % (kind, SUPPORTED))
    header = {
        "format": "flywheel-trees",
        "format_version": 1,
        "n_features": int(est.n_features_in_),
        "origin": origin,
    }
    if hasattr(est, "feature_names_in_"):
        header["feature_names"] = [str(n) for n in est.feature_names_in_]
    return kind, header


def export(est):
    """(header, iterator of trees) for a supported estimator."""
    from sklearn import ensemble, tree

    kind, header = describe(est)
    if isinstance(est, tree.DecisionTreeRegressor):  # ExtraTreeRegressor too
        header.update(inputs="float32", comparison="<=", combine="mean", base_score=0.0, learning_rate=1.0)
        return header, [tree_arrays(est.tree_)]
    if isinstance(est, (ensemble.RandomForestRegressor, ensemble.ExtraTreesRegressor)):
        header.update(inputs="float32", comparison="<=", combine="mean", base_score=0.0, learning_rate=1.0)
        return header, (tree_arrays(e.tree_) for e in est.estimators_)
    if isinstance(est, ensemble.GradientBoostingRegressor):
        init = est.init_
        if isinstance(init, str) and init == "zero":
            base = 0.0
        else:
            from sklearn.dummy import DummyRegressor

            if not isinstance(init, DummyRegressor):
                fail("FLY_ERR_IMPORT_UNSUPPORTED", "GradientBoostingRegressor with init=%s is not supported: "
                     "Flywheel serves the default initial estimator (a constant) or init=\"zero\"" % type(init).__name__)
            base = float(init.constant_.ravel()[0])
        header["origin"]["objective"] = str(est.loss)
        header.update(inputs="float32", comparison="<=", combine="sum", base_score=base, learning_rate=1.0)
        rate = float(est.learning_rate)
        # Each stage's leaf times the learning rate, as predict_stages adds them.
        return header, (tree_arrays(e.tree_, rate) for e in est.estimators_[:, 0])
    if isinstance(est, ensemble.HistGradientBoostingRegressor):
        loss = str(est.loss)
        if loss not in ("squared_error", "absolute_error", "quantile"):
            fail("FLY_ERR_IMPORT_UNSUPPORTED", "HistGradientBoostingRegressor with loss=%s is not supported: "
                 "Flywheel serves identity-link losses (squared_error, absolute_error, quantile)" % loss)
        header["origin"]["objective"] = loss
        base = float(est._baseline_prediction.ravel()[0]) if hasattr(est._baseline_prediction, "ravel") else float(est._baseline_prediction)
        # HistGradientBoosting predicts from float64 inputs; its leaves already hold the shrunk values.
        header.update(inputs="float64", comparison="<=", combine="sum", base_score=base, learning_rate=1.0)
        return header, (hist_tree_arrays(p[0]) for p in est._predictors)
    fail("FLY_ERR_IMPORT_UNSUPPORTED", "%s is not supported; supported: %s" % (kind, SUPPORTED))


def main(argv):
    if len(argv) != 3:
        fail("FLY_ERR_USAGE", "usage: flywheel_export.py MODEL_FILE OUT_FILE")
    obj, names = unwrap(load(argv[1]))
    header, trees = export(obj)
    if names is not None:
        if len(names) != header["n_features"]:
            fail("FLY_ERR_IMPORT_FEATURES", "the file lists %d feature_names but the model has %d features"
                 % (len(names), header["n_features"]))
        if "feature_names" in header and header["feature_names"] != names:
            fail("FLY_ERR_IMPORT_FEATURES", "the file's feature_names %s differ from the model's %s"
                 % (names, header["feature_names"]))
        header["feature_names"] = names
    trees = list(trees) if isinstance(trees, list) else trees
    count = len(est_trees(obj)) if not isinstance(trees, list) else len(trees)
    header["n_trees"] = count
    dump = lambda o: json.dumps(o, allow_nan=False, separators=(",", ":"))  # noqa: E731
    with open(argv[2], "w") as out:
        out.write(dump(header) + "\n")
        for t in trees:
            out.write(dump(t) + "\n")


def est_trees(est):
    from sklearn import ensemble

    if isinstance(est, ensemble.GradientBoostingRegressor):
        return est.estimators_[:, 0]
    if isinstance(est, ensemble.HistGradientBoostingRegressor):
        return est._predictors
    return est.estimators_


if __name__ == "__main__":
    try:
        main(sys.argv)
    except ExportError as err:
        sys.stderr.write(json.dumps({"code": err.code, "message": str(err)}) + "\n")
        sys.exit(3)
    except ValueError as err:  # allow_nan=False: a NaN or infinite number in the trees
        sys.stderr.write(json.dumps({"code": "FLY_ERR_IMPORT_INVALID", "message": "the trees hold a value JSON cannot carry: %s" % err}) + "\n")
        sys.exit(3)
