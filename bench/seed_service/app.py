"""A seed-style routing service, as the design document's own stack would have it: FastAPI +
sqlglot (Trino dialect) + onnxruntime, scoring the same bundled model file as the router.

Bench-only: `bench/seed_service/setup_venv.sh`, then (one core, one process)
`MODEL_DIR=models/<version> taskset -c 0 bench/seed_service/.venv/bin/uvicorn app:app
--app-dir bench/seed_service --port 8091 --log-level warning`. Its features are what a user would
write with sqlglot (lengths, joins, subqueries, aggregations ...), mapped onto the model's feature
names where they mean the same thing; the rest stay 0. Good for cost, not for decisions.
"""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import sqlglot
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlglot import exp

MODEL_DIR = Path(os.environ.get("MODEL_DIR", "models"))
MANIFEST = json.loads((MODEL_DIR / "manifest.json").read_text())
NAMES = MANIFEST["features"]
INDEX = {name: i for i, name in enumerate(NAMES)}
THRESHOLD = float(MANIFEST["threshold"])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
SESSION = ort.InferenceSession(str(MODEL_DIR / "model.onnx"), options, providers=["CPUExecutionProvider"])
INPUT = SESSION.get_inputs()[0].name

COUNTS = {
    "cst_join_count": exp.Join,
    "cst_cte_count": exp.CTE,
    "cst_subquery_count": exp.Subquery,
    "cst_window_count": exp.Window,
    "cst_distinct_count": exp.Distinct,
    "cst_order_by_count": exp.Order,
    "cst_limit_count": exp.Limit,
    "cst_having_count": exp.Having,
    "cst_group_by_count": exp.Group,
    "cst_set_op_count": exp.Union,
    "cst_table_count": exp.Table,
    "cst_func_count": exp.Func,
    "cst_case_count": exp.Case,
}

app = FastAPI()


def featurize(sql: str) -> np.ndarray:
    vector = np.zeros((1, len(NAMES)), dtype=np.float32)

    def put(name: str, value: float) -> None:
        if name in INDEX:
            vector[0, INDEX[name]] = value

    put("sql_length", len(sql))
    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except Exception:
        return vector
    put("cst_parsed", 1)
    nodes = list(tree.walk())
    put("cst_node_count", len(nodes))
    for name, kind in COUNTS.items():
        put(name, sum(1 for node in nodes if isinstance(node, kind)))
    put("kw_join", sum(1 for node in nodes if isinstance(node, exp.Join)))
    put("kw_select", sum(1 for node in nodes if isinstance(node, exp.Select)))
    put("statement_read", 1 if isinstance(tree, (exp.Select, exp.Union)) else 0)
    return vector


@app.post("/v1/route")
async def route(request: Request) -> JSONResponse:
    body = await request.json()
    sql = body.get("sqlText")
    if not isinstance(sql, str):
        return JSONResponse({"error": "`sqlText` must be a string"}, status_code=400)
    probabilities = SESSION.run(None, {INPUT: featurize(sql)})[-1]
    score = float(np.asarray(probabilities)[0][-1])
    heavy = score >= THRESHOLD
    return JSONResponse(
        {
            "queryId": body.get("queryId"),
            "decision": "heavy" if heavy else "light",
            "modelScore": round(score, 6),
        }
    )


@app.get("/readyz")
async def readyz() -> JSONResponse:
    return JSONResponse({"status": "ready"})


@app.get("/v1/models")
async def models() -> JSONResponse:
    return JSONResponse({"defaultVersion": MANIFEST["version"] + " (seed-style service)"})
