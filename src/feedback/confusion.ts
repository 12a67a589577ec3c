/**
 * Live confusion counts of the router's decisions against the true labels, per model version,
 * with the false-negative and false-positive rates the canary gates on.
 *
 * @module
 */

import type { QueryClass } from "../routing/router.ts";

/**
 * Counts of one model version. "Positive" is heavy: a false negative is a heavy query sent to
 * Small (the costly mistake), a false positive a light query sent to Large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { falseNegativeRate, type ConfusionCounts } from "./confusion.ts";
 * const counts: ConfusionCounts = { truePositive: 9, falseNegative: 1, trueNegative: 90, falsePositive: 0 };
 * assert(falseNegativeRate(counts) === 0.1);
 * ```
 */
export interface ConfusionCounts {
  readonly truePositive: number;
  readonly falseNegative: number;
  readonly trueNegative: number;
  readonly falsePositive: number;
}

/** Counts per model version. */
export type ConfusionSnapshot = Readonly<Record<string, ConfusionCounts>>;

/**
 * FN / (FN + TP): the share of heavy queries that were predicted light; `NaN` before any heavy
 * query was seen (a rate of 0 would claim a precision nobody measured).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { falseNegativeRate } from "./confusion.ts";
 * assert(Number.isNaN(falseNegativeRate({ truePositive: 0, falseNegative: 0, trueNegative: 5, falsePositive: 0 })));
 * ```
 */
export function falseNegativeRate(counts: ConfusionCounts): number {
  const heavy = counts.falseNegative + counts.truePositive;
  return heavy === 0 ? Number.NaN : counts.falseNegative / heavy;
}

/**
 * FP / (FP + TN): the share of light queries that were predicted heavy; `NaN` before any light
 * query was seen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { falsePositiveRate } from "./confusion.ts";
 * assert(falsePositiveRate({ truePositive: 0, falseNegative: 0, trueNegative: 3, falsePositive: 1 }) === 0.25);
 * ```
 */
export function falsePositiveRate(counts: ConfusionCounts): number {
  const light = counts.falsePositive + counts.trueNegative;
  return light === 0 ? Number.NaN : counts.falsePositive / light;
}

/**
 * The cell of the matrix that a (predicted, actual) pair falls in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionCell } from "./confusion.ts";
 * assert(confusionCell("light", "heavy") === "falseNegative");
 * ```
 */
export function confusionCell(predicted: QueryClass, actual: QueryClass): keyof ConfusionCounts {
  if (actual === "heavy") return predicted === "heavy" ? "truePositive" : "falseNegative";
  return predicted === "light" ? "trueNegative" : "falsePositive";
}

const SHARED_PREFIX = "confusion|";

/**
 * The name of the shared store counter for one cell, so that every replica's counts add up in
 * one place and any replica can report the fleet-wide rates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confusionCounterName } from "./confusion.ts";
 * assert(confusionCounterName("v1", "light", "heavy") === "confusion|v1|light|heavy");
 * ```
 */
export function confusionCounterName(
  modelVersion: string,
  predicted: QueryClass,
  actual: QueryClass,
): string {
  return `${SHARED_PREFIX}${modelVersion}|${predicted}|${actual}`;
}

const ZERO: ConfusionCounts = {
  truePositive: 0,
  falseNegative: 0,
  trueNegative: 0,
  falsePositive: 0,
};

const isClass = (value: string): value is QueryClass => value === "light" || value === "heavy";

/**
 * Rebuilds a snapshot from shared store counters, ignoring every counter not written by
 * {@linkcode confusionCounterName}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { snapshotFromCounters } from "./confusion.ts";
 * const snapshot = snapshotFromCounters({ "confusion|v1|light|heavy": 2, "other": 7 });
 * assert(snapshot.v1.falseNegative === 2);
 * ```
 */
export function snapshotFromCounters(
  counters: Readonly<Record<string, number>>,
): ConfusionSnapshot {
  const out: Record<string, ConfusionCounts> = {};
  for (const [name, value] of Object.entries(counters)) {
    if (!name.startsWith(SHARED_PREFIX)) continue;
    // Split from the right: the model version is free text, the two classes are not.
    const parts = name.slice(SHARED_PREFIX.length).split("|");
    if (parts.length < 3) continue;
    const actual = parts.pop()!;
    const predicted = parts.pop()!;
    if (!isClass(predicted) || !isClass(actual)) continue;
    const version = parts.join("|");
    const cell = confusionCell(predicted, actual);
    const counts = out[version] ?? { ...ZERO };
    out[version] = { ...counts, [cell]: counts[cell] + value };
  }
  return out;
}

/**
 * This replica's confusion counts, per model version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfusionMatrix } from "./confusion.ts";
 * const matrix = new ConfusionMatrix();
 * matrix.record("v1", "light", "heavy");
 * matrix.record("v1", "heavy", "heavy");
 * assert(matrix.snapshot().v1.falseNegative === 1);
 * ```
 */
export class ConfusionMatrix {
  readonly #counts = new Map<string, ConfusionCounts>();

  /** Adds one decision whose true label is now known. */
  record(modelVersion: string, predicted: QueryClass, actual: QueryClass): void {
    const cell = confusionCell(predicted, actual);
    const counts = this.#counts.get(modelVersion) ?? ZERO;
    this.#counts.set(modelVersion, { ...counts, [cell]: counts[cell] + 1 });
  }

  /** A copy of the counts. */
  snapshot(): ConfusionSnapshot {
    return Object.fromEntries(this.#counts);
  }
}
