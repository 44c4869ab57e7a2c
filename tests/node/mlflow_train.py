"""Train and register the node tier's MLflow model, as a data scientist would.

Runs in the venv of the MLServer image's pins plus an MLflow client (tests/mlserver_local.venv), so the
scikit-learn that pickles the model is the one that unpickles it in the pod:

    MLFLOW_TRACKING_URI=http://... python tests/node/mlflow_train.py OUT_DIR

Logs a LogisticRegression on 4 float32 features with MLflow's scikit-learn flavour (cloudpickle, the
format MLServer's scikit-learn runtime loads: MLflow 3 defaults to skops), the training data as a
dataset input, a git commit and the parameters; registers it as `fraud` and points the alias `champion`
at it. Prints one JSON document: run id, model version, commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "https://github.com/acme/fraud-training.git"
COLUMNS = ["amount", "merchant_risk", "hour_of_day", "distance_from_home_km"]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261207)
    x = rng.random((400, len(COLUMNS))).astype(np.float32)
    y = (x[:, 1] > 0.6).astype(np.int64)
    frame = pd.DataFrame(x, columns=COLUMNS).assign(is_fraud=y)
    data = out / "fraud-train.csv"
    frame.to_csv(data, index=False)
    mlflow.set_experiment("fraud-node")
    with mlflow.start_run() as run:
        mlflow.set_tags({"mlflow.source.git.commit": COMMIT, "mlflow.source.git.repoURL": REPO})
        dataset = mlflow.data.from_pandas(frame, source=str(data), name="fraud-train", targets="is_fraud")
        mlflow.log_input(dataset, context="training")
        params = {"C": 1.0, "max_iter": 200}
        mlflow.log_params(params)
        model = LogisticRegression(**params).fit(x, y)  # an array, as MLServer hands it the request's tensor
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x, model.predict(x)),
            registered_model_name="fraud",
            pip_requirements=["scikit-learn==1.7.2"],  # no inference: that loads the model in a subprocess
            # MLflow 3 defaults to skops (model.skops); MLServer's scikit-learn runtime reads a pickle.
            serialization_format="cloudpickle",
        )
    version = str(info.registered_model_version)
    mlflow.tracking.MlflowClient().set_registered_model_alias("fraud", "champion", version)
    print(json.dumps({"run_id": run.info.run_id, "version": version, "commit": COMMIT}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
