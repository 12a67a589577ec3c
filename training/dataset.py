"""The feature matrix written by `training/featurize.ts`, read without copying or casting.

The matrix is the exact float32 output of the router's featurizer, so nothing here may
transform values: any change would break train-serve parity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Statement kinds the model decides; writes and DDL always go to Large by policy.
MODEL_DECIDED_KINDS = ("read", "utility")


@dataclass(frozen=True)
class Dataset:
    """Rows of one featurize run, in time order, with their metadata columns."""

    directory: Path
    sidecar: dict[str, Any]
    spec: dict[str, Any]
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int8]
    split: npt.NDArray[np.str_]
    cpu_seconds: npt.NDArray[np.float64]
    statement_kind: npt.NDArray[np.str_]
    query_ids: npt.NDArray[np.str_]
    splits_by_scheme: dict[str, npt.NDArray[np.str_]]
    families: npt.NDArray[np.str_]
    users: npt.NDArray[np.str_]
    schema_rule: npt.NDArray[np.float32]

    @property
    def feature_names(self) -> list[str]:
        return list(self.sidecar["featureNames"])

    @property
    def feature_groups(self) -> list[str]:
        return list(self.sidecar["featureGroups"])

    def mask(
        self, split: str, model_decided_only: bool = True, scheme: str | None = None
    ) -> npt.NDArray[np.bool_]:
        """Rows of a split (of `scheme`, default the featurize run's `splitBy`); by default only
        those the model (not the write policy) decides."""
        m = (self.split if scheme is None else self.splits_by_scheme[scheme]) == split
        if model_decided_only:
            m &= np.isin(self.statement_kind, MODEL_DECIDED_KINDS)
        return m

    def without_groups(self, groups: list[str]) -> Dataset:
        """The same rows with every feature of `groups` set to 0: a constant column is never
        split on, so the trained graph keeps the full input width but ignores those features."""
        drop = [i for i, g in enumerate(self.feature_groups) if g in groups]
        if not drop:
            return self
        x = self.x.copy()
        x[:, drop] = 0.0
        return replace(self, x=x)


def load_dataset(directory: str | Path) -> Dataset:
    """Loads `dataset.json`, `feature_spec.json` and the float32 little-endian matrix."""
    directory = Path(directory)
    sidecar = json.loads((directory / "dataset.json").read_text())
    spec = json.loads((directory / "feature_spec.json").read_text())
    rows, width = sidecar["shape"]
    x = np.fromfile(directory / sidecar["matrix"], dtype="<f4")
    if x.size != rows * width:
        raise ValueError(f"{directory}: matrix has {x.size} values, sidecar says {rows}x{width}")
    x = x.reshape(rows, width)
    if not np.isfinite(x).all():
        # XGBoost treats NaN as missing and ONNX trees route missing values their own way:
        # a non-finite feature would silently break parity, so it is refused here.
        raise ValueError(f"{directory}: matrix contains NaN or infinite values")
    return Dataset(
        directory=directory,
        sidecar=sidecar,
        spec=spec,
        x=x,
        y=np.asarray(sidecar["labels"], dtype=np.int8),
        split=np.asarray(sidecar["splits"]),
        cpu_seconds=np.asarray(sidecar["cpuSeconds"], dtype=np.float64),
        statement_kind=np.asarray(sidecar["statementKinds"]),
        query_ids=np.asarray(sidecar["queryIds"]),
        splits_by_scheme={k: np.asarray(v) for k, v in sidecar["splitsByScheme"].items()},
        families=np.asarray(sidecar["families"]),
        users=np.asarray(sidecar["users"]),
        schema_rule=np.asarray(sidecar["schemaRule"], dtype=np.float32),
    )
