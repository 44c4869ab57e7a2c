"""Train the demo's two fraud models and save them as real joblib artifacts.

Runs in the MLServer venv (its scikit-learn is the one that loads the artifacts), as a plain script:

    python hack/demo/train.py OUT_DIR

and prints one JSON document: per version the artifact path, its sha256 digest, the dataset snapshot
and its digest, the hyperparameters and the holdout accuracy.

- 1.1.0 is trained on the 4 features that the serving environment provides (schema fraud-features v3).
- 2.0.0 is the bad update: its training pipeline added two features that serving does not send, so
  every 4-feature request fails inside the model server (a training/serving shape mismatch).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261101
ROWS = 8000
SERVING_FEATURES = ["amount", "merchant_risk", "hour_of_day", "distance_from_home_km"]
EXTRA_FEATURES = ["device_age_days", "txn_velocity_1h"]


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def transactions(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic, fraud-like dataset: 6 float features, a few percent fraudulent."""
    amount = rng.lognormal(mean=3.5, sigma=1.0, size=rows)
    merchant_risk = rng.beta(2.0, 8.0, size=rows)
    hour = rng.integers(0, 24, size=rows).astype(float)
    distance = rng.exponential(20.0, size=rows)
    device_age = rng.exponential(300.0, size=rows)
    velocity = rng.poisson(1.5, size=rows).astype(float)
    logit = (
        -7.5
        + 0.5 * np.log(amount)
        + 6.0 * merchant_risk
        + 1.2 * (hour < 6)
        + 0.02 * distance
        - 0.002 * device_age
        + 0.4 * velocity
    )
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    x = np.column_stack([amount, merchant_risk, hour, distance, device_age, velocity])
    return x, y


def train(
    out: Path, *, version: str, features: list[str], x: np.ndarray, y: np.ndarray, c: float, snapshot: str
) -> dict[str, Any]:
    split = int(len(y) * 0.8)
    cols = x[:, : len(features)]
    data = out / f"transactions-{snapshot}.npz"
    np.savez(data, x=cols, y=y)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(C=c, max_iter=500))])
    model.fit(cols[:split], y[:split])
    accuracy = float(model.score(cols[split:], y[split:]))
    artifact = out / "fraud-detector" / version / "model.joblib"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, artifact)
    return {
        "path": str(artifact),
        "digest": sha256_of(artifact),
        "features": features,
        "dataset": {"uri": data.resolve().as_uri(), "digest": sha256_of(data)},
        "hyperparameters": {"model": "LogisticRegression", "C": str(c), "max_iter": "500", "seed": str(SEED)},
        "holdout_accuracy": round(accuracy, 4),
    }


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    x, y = transactions(np.random.default_rng(SEED), ROWS)
    good = train(out, version="1.1.0", features=SERVING_FEATURES, x=x, y=y, c=1.0, snapshot="2026-10-01")
    bad = train(
        out, version="2.0.0", features=SERVING_FEATURES + EXTRA_FEATURES, x=x, y=y, c=0.5, snapshot="2026-11-01"
    )
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    print(json.dumps({"code_commit": code, "versions": {"1.1.0": good, "2.0.0": bad}}))


if __name__ == "__main__":
    main()
