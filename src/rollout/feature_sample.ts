/**
 * Featurization consistency (the shadow stage's exit criterion): the router keeps a sampled
 * share of the feature vectors it scored online (numbers only, in the decision record, which
 * the labeled log carries); the report featurizes the same queries offline from the log, as
 * training does, and measures the deviation between the two distributions.
 *
 * @module
 */

/** A feature vector's non-zero entries, keyed by index, values rounded to 6 decimals. */
export type SparseFeatures = Readonly<Record<string, number>>;

/**
 * The sparse form of a vector.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sparseFeatures } from "./feature_sample.ts";
 * assert.deepEqual(sparseFeatures([0, 1.23456789, 0, 2]), { "1": 1.234568, "3": 2 });
 * ```
 */
export function sparseFeatures(vector: ArrayLike<number>): SparseFeatures {
  const out: Record<string, number> = {};
  for (let i = 0; i < vector.length; i++) {
    const value = vector[i];
    if (value !== 0) out[i] = Math.round(value * 1e6) / 1e6;
  }
  return out;
}

/** How far online vectors are from offline ones for the same queries. */
export interface FeatureDeviation {
  readonly samples: number;
  /** Largest relative deviation of a feature's mean, online vs offline (0.01 = 1 %). */
  readonly maxDeviation: number;
  /** The feature with that deviation. */
  readonly worstFeature?: string;
  /** Share of queries whose online and offline vectors differ at all. */
  readonly differingShare: number;
}

/**
 * Compares online and offline vectors of the same queries. A feature's deviation is
 * `|mean(online) − mean(offline)| / mean(|offline|)`, or 1 when it is only ever non-zero online;
 * 1e-6 absolute differences are rounding, not deviation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureDeviation } from "./feature_sample.ts";
 * const same = featureDeviation([{ online: { "0": 2 }, offline: [2, 0] }], ["a", "b"]);
 * assert.equal(same.maxDeviation, 0);
 * const off = featureDeviation([{ online: { "0": 2, "1": 1 }, offline: [2, 0] }], ["a", "b"]);
 * assert.equal(off.worstFeature, "b");
 * ```
 */
export function featureDeviation(
  pairs: readonly { online: SparseFeatures; offline: ArrayLike<number> }[],
  featureNames: readonly string[],
): FeatureDeviation {
  const width = featureNames.length;
  const onlineSum = new Float64Array(width);
  const offlineSum = new Float64Array(width);
  const offlineAbs = new Float64Array(width);
  let differing = 0;
  for (const { online, offline } of pairs) {
    let differs = false;
    for (let i = 0; i < width; i++) {
      const on = online[i] ?? 0;
      const off = offline[i] ?? 0;
      onlineSum[i] += on;
      offlineSum[i] += off;
      offlineAbs[i] += Math.abs(off);
      if (Math.abs(on - off) > 1e-6) differs = true;
    }
    if (differs) differing++;
  }
  let maxDeviation = 0;
  let worstFeature: string | undefined;
  for (let i = 0; i < width; i++) {
    const gap = Math.abs(onlineSum[i] - offlineSum[i]);
    if (gap <= 1e-6 * Math.max(1, pairs.length)) continue;
    const deviation = offlineAbs[i] === 0 ? 1 : gap / offlineAbs[i];
    if (deviation > maxDeviation) {
      maxDeviation = deviation;
      worstFeature = featureNames[i];
    }
  }
  return {
    samples: pairs.length,
    maxDeviation,
    ...(worstFeature ? { worstFeature } : {}),
    differingShare: pairs.length === 0 ? 0 : differing / pairs.length,
  };
}
