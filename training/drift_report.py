"""Evidently's data-drift preset on two feature tables written by training/drift.ts.

Runs in the MLOps venv (.ci/install_mlops.sh), not the training venv. Reads the reference and
current tables (JSON lines, one object per query: the dense features the router's featurizer
computed, plus categorical context columns), writes Evidently's HTML report and prints one JSON
summary line on stdout: per-column drift (method, score, threshold, drifted) and the dataset
verdict (share of drifted columns against the drift share).
"""

import argparse
import json
import sys
import warnings

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def column_drift(metric: dict) -> tuple[str, dict] | None:
    """One ValueDrift metric of the snapshot as (column, summary); None for other metrics."""
    config = metric.get("config", {})
    if not config.get("type", "").endswith("ValueDrift"):
        return None
    method = str(config.get("method", ""))
    score = float(metric["value"])
    threshold = float(config.get("threshold", 0.05))
    # p-value tests drift below the threshold; distances (Wasserstein, Jensen-Shannon) above.
    drifted = score < threshold if "p_value" in method else score >= threshold
    return config["column"], {
        "method": method,
        "score": score,
        "threshold": threshold,
        "drifted": drifted,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--numerical", required=True, help="comma-separated column names")
    parser.add_argument("--categorical", default="", help="comma-separated column names")
    parser.add_argument("--drift-share", type=float, default=0.5)
    parser.add_argument("--html", required=True)
    args = parser.parse_args()

    numerical = [c for c in args.numerical.split(",") if c]
    categorical = [c for c in args.categorical.split(",") if c]
    reference = pd.read_json(args.reference, lines=True)
    current = pd.read_json(args.current, lines=True)
    for frame in (reference, current):
        for column in categorical:
            frame[column] = frame[column].astype(str)
    # A feature with one and the same value on both sides (a keyword neither workload uses)
    # cannot drift; counting it would dilute the drifted share with columns that carry nothing.
    constant = [
        c
        for c in numerical
        if reference[c].nunique() <= 1
        and current[c].nunique() <= 1
        and set(reference[c].unique()) == set(current[c].unique())
    ]
    numerical = [c for c in numerical if c not in constant]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    report = Report([DataDriftPreset(drift_share=args.drift_share)])
    with warnings.catch_warnings():
        # scipy warns on constant columns (division by zero in a test statistic); the report
        # still carries a value for them.
        warnings.simplefilter("ignore")
        snapshot = report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    snapshot.save_html(args.html)

    columns = {}
    for metric in snapshot.dict()["metrics"]:
        found = column_drift(metric)
        if found is not None:
            columns[found[0]] = found[1]
    drifted = sorted(name for name, c in columns.items() if c["drifted"])
    share = len(drifted) / len(columns) if columns else 0.0
    summary = {
        "datasetDrift": bool(columns) and share >= args.drift_share,
        "driftShare": args.drift_share,
        "driftedShare": share,
        "driftedColumns": drifted,
        "columns": columns,
        "rows": {"reference": len(reference), "current": len(current)},
        "constantColumns": constant,
        "evidently": "DataDriftPreset",
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
