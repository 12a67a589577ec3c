"""Metrics, the safety threshold and the evaluation plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # Headless: CI and this machine have no display.

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402


def pick_threshold(y: npt.NDArray[Any], scores: npt.NDArray[np.float32], target_recall: float) -> float:
    """The highest threshold whose heavy recall on (y, scores) is at least `target_recall`.

    Decisions are `score >= threshold`, so the threshold is one of the heavy scores: the one
    that leaves exactly the allowed number of heavy rows below it. It is returned as the float32
    value itself, so the comparison gives the same answer in NumPy, onnxruntime and the router.
    """
    heavy = np.sort(scores[y == 1].astype(np.float32))
    if heavy.size == 0:
        return 0.5
    allowed_misses = int(np.floor((1.0 - target_recall) * heavy.size + 1e-9))
    return float(np.float32(heavy[min(allowed_misses, heavy.size - 1)]))


def confusion(y: npt.NDArray[np.bool_], heavy_pred: npt.NDArray[np.bool_]) -> dict[str, int]:
    """Counts per cell, heavy being positive: the cells and names of `confusionCell` in
    src/feedback/confusion.ts (the live matrix), so offline and live reports read alike;
    test/unit/training_confusion_test.ts checks that the same rows fall in the same cells."""
    return {
        "truePositive": int(np.sum(heavy_pred & y)),
        "falseNegative": int(np.sum(~heavy_pred & y)),
        "trueNegative": int(np.sum(~heavy_pred & ~y)),
        "falsePositive": int(np.sum(heavy_pred & ~y)),
    }


def metrics(
    y: npt.NDArray[Any],
    scores: npt.NDArray[Any],
    threshold: float,
    cpu_seconds: npt.NDArray[np.float64],
) -> dict[str, Any]:
    """Confusion, recall/FNR/FPR/precision, AUC-PR and the CPU cost of both error kinds."""
    y = y.astype(bool)
    heavy_pred = scores >= threshold
    cells = confusion(y, heavy_pred)
    tp, fn = cells["truePositive"], cells["falseNegative"]
    fp, tn = cells["falsePositive"], cells["trueNegative"]
    ratio = lambda a, b: (a / b) if b else None  # noqa: E731
    recall = ratio(tp, tp + fn)
    both_classes = 0 < y.sum() < y.size
    return {
        "rows": int(y.size),
        "heavy": int(y.sum()),
        "threshold": threshold,
        "recall": recall,
        "fnr": None if recall is None else 1.0 - recall,
        "fpr": ratio(fp, fp + tn),
        "precision": ratio(tp, tp + fp),
        "aucPr": float(average_precision_score(y, scores)) if both_classes else None,
        "confusion": cells,
        "heavyCpuSecondsOnSmall": float(cpu_seconds[~heavy_pred & y].sum()),
        "lightCpuSecondsOnLarge": float(cpu_seconds[heavy_pred & ~y].sum()),
    }


def plot_score_distribution(
    y: npt.NDArray[Any], scores: npt.NDArray[Any], threshold: float, title: str, path: Path
) -> None:
    """Histogram of scores per class (log counts, so the rare heavy class stays visible)."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    bins = np.linspace(0.0, 1.0, 51)
    ax.hist(scores[y == 0], bins=bins, alpha=0.6, label=f"light (n={int((y == 0).sum())})", color="tab:blue")
    ax.hist(scores[y == 1], bins=bins, alpha=0.6, label=f"heavy (n={int((y == 1).sum())})", color="tab:red")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)  # Single queries stay visible on the log axis.
    ax.set_xlabel("model score (probability of heavy)")
    ax.set_ylabel("queries (log scale)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_threshold_curves(
    curves: dict[str, tuple[npt.NDArray[Any], npt.NDArray[Any]]],
    threshold: float,
    target_recall: float,
    path: Path,
) -> None:
    """Heavy recall and FPR against the threshold, one line pair per split."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    grid = np.linspace(0.0, 1.0, 501)
    colors = ("tab:orange", "tab:green", "tab:purple")[: len(curves)]
    for (name, (y, scores)), color in zip(curves.items(), colors, strict=True):
        heavy = scores[y == 1]
        light = scores[y == 0]
        recall = [(heavy >= t).mean() if heavy.size else np.nan for t in grid]
        fpr = [(light >= t).mean() if light.size else np.nan for t in grid]
        ax.plot(grid, recall, color=color, label=f"heavy recall ({name})")
        ax.plot(grid, fpr, color=color, linestyle=":", label=f"FPR: light sent to Large ({name})")
    ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.axhline(target_recall, color="grey", linewidth=0.8, label=f"recall target {target_recall}")
    ax.set_xlabel("threshold")
    ax.set_ylabel("rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Recall and false-positive rate vs threshold")
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
