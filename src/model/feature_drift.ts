/**
 * The router's cheap online drift signal: a population stability index (PSI) per model version
 * on a few dense features, between the training split (binned at training time, carried by the
 * manifest as `driftReference`) and a bounded sample of the latest live queries. An alert can
 * fire between nightly drift reports (`deno task drift`).
 *
 * @module
 */

import type { Featurized } from "../features/featurizer.ts";
import type { ModelManifest } from "./manifest.ts";

/** The features the online PSI watches: query size, joins, tables and the largest table. */
export const PSI_FEATURES: readonly string[] = [
  "sql_length",
  "token_count",
  "cst_join_count",
  "table_refs",
  "rows_max_log",
];

/** One feature's training distribution: bin upper edges and the share of rows per bin. */
export interface FeatureReference {
  /** Ascending upper edges; bin i holds values ≤ edges[i], the last bin everything above. */
  readonly edges: readonly number[];
  /** Share of training rows per bin (`edges.length + 1` entries, summing to 1). */
  readonly expected: readonly number[];
}

/** What a manifest carries for the online PSI (`manifest.driftReference`). */
export interface DriftReference {
  readonly rows: number;
  readonly features: Readonly<Record<string, FeatureReference>>;
}

/** Shares below this count as this (PSI's logarithm is undefined at 0). */
const MIN_SHARE = 1e-4;
const MAX_BINS = 10;

/** The bin of `value` for `edges` (binary search; NaN falls in the last bin). */
export function binOf(edges: readonly number[], value: number): number {
  let lo = 0, hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value <= edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Population stability index of observed bin counts against expected shares:
 * Σ (actual − expected) · ln(actual / expected). Rule of thumb: < 0.1 stable, 0.1–0.25 moderate
 * shift, > 0.25 significant shift.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { psi } from "./feature_drift.ts";
 * assert.equal(psi([0.5, 0.5], [50, 50]), 0);
 * assert.ok(psi([0.5, 0.5], [95, 5]) > 0.25);
 * ```
 */
export function psi(expected: readonly number[], counts: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return 0;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i], MIN_SHARE);
    const a = Math.max((counts[i] ?? 0) / total, MIN_SHARE);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * Bins the training rows of each {@linkcode PSI_FEATURES} feature by deciles (fewer bins when
 * values repeat). `matrix` is row-major with `names.length` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitDriftReference } from "./feature_drift.ts";
 * const matrix = Float32Array.from({ length: 100 }, (_, i) => i);
 * const ref = fitDriftReference(["sql_length"], matrix, [...Array(100).keys()]);
 * assert.equal(ref.features.sql_length.expected.length, ref.features.sql_length.edges.length + 1);
 * ```
 */
export function fitDriftReference(
  names: readonly string[],
  matrix: Float32Array,
  rows: readonly number[],
): DriftReference {
  const width = names.length;
  const features: Record<string, FeatureReference> = {};
  for (const name of PSI_FEATURES) {
    const column = names.indexOf(name);
    if (column < 0 || rows.length === 0) continue;
    const values = rows.map((r) => matrix[r * width + column]).sort((a, b) => a - b);
    const edges: number[] = [];
    for (let q = 1; q < MAX_BINS; q++) {
      const edge = values[Math.min(values.length - 1, Math.floor((q * values.length) / MAX_BINS))];
      if (edge !== edges.at(-1) && edge < values.at(-1)!) edges.push(edge);
    }
    const counts = new Array(edges.length + 1).fill(0);
    for (const v of values) counts[binOf(edges, v)]++;
    features[name] = { edges, expected: counts.map((c) => c / values.length) };
  }
  return { rows: rows.length, features };
}

/** Options of {@linkcode createFeatureDriftMonitor}. */
export interface FeatureDriftMonitorOptions {
  /** Live queries kept per model version (the newest; older ones drop out). */
  readonly sampleSize?: number;
  /** PSI is reported once a version has seen this many queries. */
  readonly minSample?: number;
  /** Versions tracked at once (hot reloads add versions; the oldest are forgotten). */
  readonly maxVersions?: number;
}

/** One exported value. */
export interface FeaturePsi {
  readonly modelVersion: string;
  readonly feature: string;
  readonly psi: number;
  readonly sample: number;
}

/** Feeds on featurized queries; reports PSI per version and feature. */
export interface FeatureDriftMonitor {
  observe(manifest: ModelManifest, featurized: Featurized): void;
  snapshot(): FeaturePsi[];
}

interface Tracked {
  readonly columns: readonly { feature: string; index: number; reference: FeatureReference }[];
  /** Ring of bin indices, one row per observation, one column per tracked feature. */
  readonly ring: Uint8Array;
  readonly counts: Uint32Array[];
  next: number;
  seen: number;
}

/** The manifest's reference, or `undefined` when it has none (or a malformed one). */
function referenceOf(manifest: ModelManifest): DriftReference | undefined {
  const ref = (manifest as { driftReference?: DriftReference }).driftReference;
  if (!ref || typeof ref !== "object" || typeof ref.features !== "object") return undefined;
  return ref;
}

/**
 * Creates the monitor. Memory is bounded by `maxVersions × sampleSize × features` bytes; an
 * observation costs one binary search per feature.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeatureDriftMonitor } from "./feature_drift.ts";
 * const monitor = createFeatureDriftMonitor();
 * assert.deepEqual(monitor.snapshot(), []);
 * ```
 */
export function createFeatureDriftMonitor(
  options: FeatureDriftMonitorOptions = {},
): FeatureDriftMonitor {
  const sampleSize = options.sampleSize ?? 1000;
  const minSample = options.minSample ?? 100;
  const maxVersions = options.maxVersions ?? 8;
  const tracked = new Map<string, Tracked | null>();

  function track(manifest: ModelManifest): Tracked | null {
    const reference = referenceOf(manifest);
    const columns = reference
      ? PSI_FEATURES.flatMap((feature) => {
        const ref = reference.features[feature];
        const index = manifest.features.indexOf(feature);
        const valid = ref && Array.isArray(ref.edges) && Array.isArray(ref.expected) &&
          ref.expected.length === ref.edges.length + 1 && ref.expected.length <= 255;
        return valid && index >= 0 ? [{ feature, index, reference: ref }] : [];
      })
      : [];
    if (columns.length === 0) return null;
    return {
      columns,
      ring: new Uint8Array(sampleSize * columns.length),
      counts: columns.map((c) => new Uint32Array(c.reference.expected.length)),
      next: 0,
      seen: 0,
    };
  }

  return {
    observe(manifest, featurized) {
      let state = tracked.get(manifest.version);
      if (state === undefined) {
        if (tracked.size >= maxVersions) tracked.delete(tracked.keys().next().value!);
        state = track(manifest);
        tracked.set(manifest.version, state);
      }
      if (state === null) return;
      const { columns, ring, counts } = state;
      const base = state.next * columns.length;
      const full = state.seen >= sampleSize;
      for (let c = 0; c < columns.length; c++) {
        if (full) counts[c][ring[base + c]]--;
        const bin = binOf(columns[c].reference.edges, featurized.vector[columns[c].index]);
        ring[base + c] = bin;
        counts[c][bin]++;
      }
      state.next = (state.next + 1) % sampleSize;
      state.seen++;
    },
    snapshot() {
      const out: FeaturePsi[] = [];
      for (const [modelVersion, state] of tracked) {
        if (!state || state.seen < minSample) continue;
        state.columns.forEach((column, c) =>
          out.push({
            modelVersion,
            feature: column.feature,
            psi: psi(column.reference.expected, state.counts[c]),
            sample: Math.min(state.seen, sampleSize),
          })
        );
      }
      return out;
    },
  };
}
