"""What naming the model on every response costs: MLServer with and without Rewind's wrapper.

Run with `make bench-headers` (builds or reuses the cached MLServer venv of tests/mlserver_local.py, the
image's pins). Two MLServer processes on loopback load the same scikit-learn model, one plain and one as
a pod Rewind built runs it (the wrapper selected by the env, tagging every response). Requests go to both
over keep-alive connections, alternating one by one so that both see the same machine load, and the
client measures each round trip. Then, in one process of the MLServer venv, the two runtimes (MLServer's
scikit-learn model, and Rewind's wrapper around it) answer the same request alternately, each answer
also going through what MLServer's REST layer does to it (headers taken out, body to JSON): the cost
without the noise of two servers and a network stack. One table each: latency percentiles per runtime
and their difference.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import mlserver_local

BODY = json.dumps(
    {"inputs": [{"name": "transaction", "shape": [1, 4], "datatype": "FP32", "data": [120.5, 0.3, 14.0, 3.2]}]}
).encode()
DIGEST = "sha256:" + "c" * 64

IN_PROCESS = """
import asyncio, json, os, statistics, sys, time
models, artifact, digest, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, models)
os.environ.update(
    REWIND_MLSERVER_IMPLEMENTATION="mlserver_sklearn.SKLearnModel", REWIND_VERSION="1.1.0", REWIND_CONTENT_DIGEST=digest
)
import rewind_mlserver
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from mlserver.utils import extract_headers
from mlserver_sklearn import SKLearnModel

BODY = json.loads(sys.stdin.read())


async def main():
    parameters = ModelParameters(uri=artifact)
    settings = ModelSettings(name="fraud-detector", implementation=SKLearnModel, parameters=parameters)
    models = {"plain": SKLearnModel(settings), "tagged": rewind_mlserver.TaggedModel(settings)}
    for model in models.values():
        await model.load()
    times = {name: [] for name in models}
    for i in range(n + n // 10):
        for name in (("plain", "tagged") if i % 2 == 0 else ("tagged", "plain")):
            payload = InferenceRequest.model_validate(BODY)
            start = time.perf_counter()
            response = await models[name].predict(payload)
            extract_headers(response)  # what MLServer's REST layer does with every response
            response.model_dump_json()
            if i >= n // 10:
                times[name].append((time.perf_counter() - start) * 1000)
    print(json.dumps(times))


asyncio.run(main())
"""


def _once(conn: http.client.HTTPConnection, path: str, *, tagged: bool) -> float:
    start = time.perf_counter()
    conn.request("POST", path, body=BODY, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    elapsed = time.perf_counter() - start
    if resp.status != 200 or (tagged and resp.getheader("x-rewind-model-digest") != DIGEST):
        raise RuntimeError(f"unexpected answer: {resp.status} {resp.getheaders()}")
    return elapsed * 1000


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _row(name: str, values: list[float]) -> str:
    cells = [_percentile(values, q) for q in (50, 90, 99)] + [statistics.fmean(values)]
    return f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |"


def _in_process(models: Path, artifact: Path, calls: int) -> dict[str, list[float]]:
    python = str(mlserver_local.venv() / "bin" / "python")
    done = subprocess.run(
        [python, "-c", IN_PROCESS, str(models), str(artifact), DIGEST, str(calls)],
        input=BODY.decode(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    times: dict[str, list[float]] = json.loads(done.stdout)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="measured requests per server")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured requests per server first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-headers-") as tmp:
        work = Path(tmp)
        artifact = mlserver_local.train(work / "trained")
        with (
            mlserver_local.serve(work, artifact, tagged=False) as plain,
            mlserver_local.serve(work, artifact, tagged=True, version="1.1.0", digest=DIGEST) as tagged,
        ):
            conns = {
                name: http.client.HTTPConnection(srv.url.removeprefix("http://"), timeout=10)
                for name, srv in (("plain", plain), ("tagged", tagged))
            }
            path = f"/v2/models/{mlserver_local.MODEL}/infer"
            samples: dict[str, list[float]] = {"plain": [], "tagged": []}
            for i in range(args.warmup + args.requests):
                order = ("plain", "tagged") if i % 2 == 0 else ("tagged", "plain")
                for name in order:
                    ms = _once(conns[name], path, tagged=name == "tagged")
                    if i >= args.warmup:
                        samples[name].append(ms)
        inside = _in_process(work / "models-tagged", artifact, args.requests * 4)
    _table(
        f"Through HTTP: {args.requests} requests per server, interleaved, keep-alive, loopback (ms per request)",
        samples,
    )
    _table(
        f"Inside MLServer: {args.requests * 4} predictions per model in one process, interleaved, each with what "
        "the REST layer does to its response (headers taken out, JSON body) (ms per request)",
        inside,
    )


def _table(title: str, samples: dict[str, list[float]]) -> None:
    plain, tagged = samples["plain"], samples["tagged"]
    print(f"\n{title}\n")
    print("| runtime | p50 | p90 | p99 | mean |")
    print("|---|---|---|---|---|")
    print(_row("mlserver_sklearn.SKLearnModel", plain))
    print(_row("rewind_mlserver.TaggedModel around it", tagged))
    diff = [_percentile(tagged, q) - _percentile(plain, q) for q in (50, 90, 99)]
    diff.append(statistics.fmean(tagged) - statistics.fmean(plain))
    print("| added by tagging | " + " | ".join(f"{v:+.3f}" for v in diff) + " |")


if __name__ == "__main__":
    main()
