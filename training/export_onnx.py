"""XGBoost → ONNX with the router's signature, and the native-vs-onnxruntime parity check."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxmltools
import onnxruntime
import xgboost as xgb
from onnxmltools.convert.common.data_types import FloatTensorType

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
# ai.onnx opset 15 keeps the graph inside what onnxruntime-web 1.30 runs (TreeEnsembleClassifier).
TARGET_OPSET = 15


def to_onnx(model: xgb.XGBClassifier, width: int, metadata: dict[str, str]) -> onnx.ModelProto:
    """Converts a fitted classifier to a float32 `[N, width]` → `[N, 2]` tensor graph.

    Checks the pitfalls the router cannot survive: a ZipMap output (onnxruntime-web cannot read
    it) or an output under another name than the manifest will declare.
    """
    proto = onnxmltools.convert_xgboost(
        model,
        initial_types=[(INPUT_NAME, FloatTensorType([None, width]))],
        target_opset=TARGET_OPSET,
    )
    ops = {node.op_type for node in proto.graph.node}
    if "ZipMap" in ops:
        raise RuntimeError("converter produced a ZipMap output; onnxruntime-web cannot read it")
    outputs = [o.name for o in proto.graph.output]
    if OUTPUT_NAME not in outputs:
        raise RuntimeError(f"converter outputs are {outputs}, expected `{OUTPUT_NAME}`")
    # The converter names the graph with a random UUID; a fixed name makes the same training
    # data and code give byte-identical bundles (and so the same version hash).
    proto.graph.name = "heavy_query_classifier"
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto


def onnx_scores(proto_bytes: bytes, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Heavy-class probability from Python onnxruntime (CPU)."""
    session = onnxruntime.InferenceSession(proto_bytes, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
    return np.asarray(probabilities, dtype=np.float32)[:, 1]


def parity(
    native: npt.NDArray[np.float32], other: npt.NDArray[np.float32], threshold: float
) -> dict[str, Any]:
    """Max absolute score difference and whether every decision agrees."""
    diff = np.abs(native.astype(np.float64) - other.astype(np.float64))
    decisions_native = native >= threshold
    decisions_other = other >= threshold
    return {
        "rows": int(native.size),
        "maxAbsDiff": float(diff.max()) if diff.size else 0.0,
        "decisionMismatches": int(np.sum(decisions_native != decisions_other)),
    }
