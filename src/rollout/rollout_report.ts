/**
 * The rollout report: the design's exit criteria (section 7.2) for the current stage, each
 * PASS or FAIL on the current window, so that a human can decide to advance. Pure: the admin
 * endpoint gathers a {@linkcode ReportSnapshot}, `deno task rollout-report` adds the
 * featurization consistency measured from the labeled log and prints the result.
 *
 * @module
 */

import {
  type ConfusionCounts,
  type ConfusionSnapshot,
  falseNegativeRate,
  falsePositiveRate,
} from "../feedback/confusion.ts";
import type { FeatureDeviation } from "./feature_sample.ts";
import type { GuardReading } from "./guards.ts";
import { APPLYING_MODES } from "./mode.ts";
import type { RolloutState } from "./rollout_state.ts";

/** Everything the criteria are computed from. */
export interface ReportSnapshot {
  readonly state: RolloutState;
  readonly championVersion: string;
  /** The guards over the current window (latency p99, FNR, error rate, Small failures). */
  readonly guards: readonly GuardReading[];
  /** Live FPR over the window. */
  readonly fpr: { readonly value: number; readonly samples: number };
  /** Share of heavy decisions over the window. */
  readonly heavyShare: { readonly value: number; readonly samples: number };
  /** Heavy share of the champion's test split, from its manifest, when recorded. */
  readonly offlineHeavyShare?: number;
  /** Seconds since this replica started or last failed to route, whichever is later. */
  readonly crashFreeSeconds: number;
  /** Confusion counts per model version, across replicas sharing the store. */
  readonly confusion: ConfusionSnapshot;
  /** When the report was made (ISO-8601). */
  readonly at: string;
}

/** Stage-independent limits of the report (the design's numbers by default). */
export interface ReportLimits {
  /** Shadow stage: router p99 below this, in seconds (design: 500 ms). */
  readonly shadowLatencyP99: number;
  /** Live FNR at most this (design: 1 %). */
  readonly maxFnr: number;
  /** Live FPR at most this ("model accuracy holds"; the bundled model tests at 2.9 %). */
  readonly maxFpr: number;
  /** Shadow stage: no crash for this long (design: 48 h). */
  readonly shadowCrashFreeSeconds: number;
  /** Canary stages: hold at each stage this long (design: 24 h). */
  readonly canaryHoldSeconds: number;
  /** Featurization consistency: deviation below this (design: 1 %). */
  readonly maxFeatureDeviation: number;
  /** Live heavy share within this many points (0–1) of the offline test split's. */
  readonly heavyShareTolerance: number;
  /** Decisions needed before a share is trusted. */
  readonly minDecisions: number;
}

/** The design's limits. */
export const DESIGN_LIMITS: ReportLimits = {
  shadowLatencyP99: 0.5,
  maxFnr: 0.01,
  maxFpr: 0.1,
  shadowCrashFreeSeconds: 48 * 3600,
  canaryHoldSeconds: 24 * 3600,
  maxFeatureDeviation: 0.01,
  heavyShareTolerance: 0.1,
  minDecisions: 100,
};

/** One exit criterion. `SKIP` only for a comparison with nothing to compare (no challenger). */
export interface Criterion {
  readonly name: string;
  readonly status: "PASS" | "FAIL" | "SKIP";
  /** The measured value, as a human reads it. */
  readonly value: string;
  /** What PASS needs. */
  readonly target: string;
}

const pct = (value: number) => Number.isNaN(value) ? "n/a" : `${(value * 100).toFixed(3)} %`;
const ms = (seconds: number) =>
  Number.isNaN(seconds) ? "n/a" : `≤ ${(seconds * 1000).toFixed(1)} ms`;
const hours = (seconds: number) => `${(seconds / 3600).toFixed(1)} h`;
const status = (ok: boolean): "PASS" | "FAIL" => ok ? "PASS" : "FAIL";

function guard(snapshot: ReportSnapshot, name: GuardReading["guard"]): GuardReading {
  return snapshot.guards.find((r) => r.guard === name)!;
}

/** A guard-backed criterion: PASS needs enough samples and a value within `limit`. */
function measured(name: string, reading: GuardReading, limit: number, format: typeof pct) {
  const enough = reading.samples >= reading.minSamples;
  return {
    name,
    status: status(enough && reading.value <= limit),
    value: `${format(reading.value)} (${reading.samples} samples${enough ? "" : ", too few"})`,
    target: `${format === ms ? `< ${(limit * 1000).toFixed(0)} ms` : `≤ ${pct(limit)}`}, ` +
      `≥ ${reading.minSamples} samples`,
  };
}

function challengerCriterion(snapshot: ReportSnapshot, limits: ReportLimits): Criterion {
  const challenger = snapshot.state.challenger;
  const name = "challenger vs champion (live FNR, FPR)";
  if (!challenger) return { name, status: "SKIP", value: "no challenger", target: "n/a" };
  const describe = (version: string, counts: ConfusionCounts | undefined) =>
    counts
      ? `${version}: FNR ${pct(falseNegativeRate(counts))}, FPR ${pct(falsePositiveRate(counts))}`
      : `${version}: no joined decisions`;
  const champion = snapshot.confusion[snapshot.championVersion];
  const other = snapshot.confusion[challenger];
  const ok = champion !== undefined && other !== undefined &&
    !(falseNegativeRate(other) > falseNegativeRate(champion)) &&
    !(falseNegativeRate(other) > limits.maxFnr);
  return {
    name,
    status: status(ok),
    value: `${describe(snapshot.championVersion, champion)}; ${describe(challenger, other)}`,
    target: `challenger FNR ≤ champion's and ≤ ${pct(limits.maxFnr)}`,
  };
}

/**
 * The exit criteria of the current stage. Shadow stages (`off`, `shadow`, `shadow-route`):
 * latency p99 < 500 ms, live FNR and FPR, 48 h crash-free, featurization consistency < 1 %,
 * light/heavy share, challenger. Canary and full: latency p99 within the guard's budget, FNR
 * < 1 %, error rate, Small's resource failures, 24 h held at this stage and crash-free, no trip,
 * light/heavy share, challenger.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exitCriteria } from "./rollout_report.ts";
 * import { Guards } from "./guards.ts";
 * const guards = new Guards();
 * const criteria = exitCriteria({
 *   state: { mode: "shadow", canaryPercent: 2, revision: 1, changedAt: "2026-01-01T00:00:00Z", changedBy: "config" },
 *   championVersion: "v1", guards: guards.read(), fpr: guards.falsePositiveRate(),
 *   heavyShare: guards.heavyShare(), crashFreeSeconds: 60, confusion: {}, at: "2026-01-01T00:01:00Z",
 * });
 * assert.equal(criteria.find((c) => c.name.startsWith("crash-free"))?.status, "FAIL");
 * ```
 */
export function exitCriteria(
  snapshot: ReportSnapshot,
  featureDeviation?: FeatureDeviation,
  limits: ReportLimits = DESIGN_LIMITS,
): Criterion[] {
  const applying = APPLYING_MODES.has(snapshot.state.mode);
  const latency = guard(snapshot, "latency-p99");
  const fnr = guard(snapshot, "fnr");
  const out: Criterion[] = [];
  out.push(
    applying
      ? measured("router latency p99 (no regression)", latency, latency.threshold, ms)
      : measured("router latency p99", latency, limits.shadowLatencyP99, ms),
  );
  out.push(measured("live FNR", fnr, limits.maxFnr, pct));
  const fprEnough = snapshot.fpr.samples >= limits.minDecisions;
  out.push({
    name: "live FPR",
    status: status(fprEnough && snapshot.fpr.value <= limits.maxFpr),
    value: `${pct(snapshot.fpr.value)} (${snapshot.fpr.samples} light queries)`,
    target: `≤ ${pct(limits.maxFpr)}, ≥ ${limits.minDecisions} light queries`,
  });
  if (applying) {
    const errors = guard(snapshot, "error-rate");
    out.push(measured("router error / fallback rate", errors, errors.threshold, pct));
    const small = guard(snapshot, "small-resource-failure");
    out.push(measured("Small resource-failure rate", small, small.threshold, pct));
    const heldSeconds = (Date.parse(snapshot.at) - Date.parse(snapshot.state.changedAt)) / 1000;
    out.push({
      name: "held at this stage",
      status: status(heldSeconds >= limits.canaryHoldSeconds),
      value: hours(heldSeconds),
      target: `≥ ${hours(limits.canaryHoldSeconds)}`,
    });
  }
  const crashTarget = applying ? limits.canaryHoldSeconds : limits.shadowCrashFreeSeconds;
  out.push({
    name: "crash-free time (no routing failure)",
    status: status(snapshot.crashFreeSeconds >= crashTarget),
    value: hours(snapshot.crashFreeSeconds),
    target: `≥ ${hours(crashTarget)}`,
  });
  if (applying) {
    const tripped = snapshot.state.tripped;
    out.push({
      name: "no automatic rollback",
      status: status(!tripped),
      value: tripped ? `${tripped.guard} tripped at ${tripped.at}` : "none",
      target: "none",
    });
  }
  const share = snapshot.heavyShare;
  const offline = snapshot.offlineHeavyShare;
  const shareEnough = share.samples >= limits.minDecisions;
  out.push({
    name: "light/heavy share",
    status: status(
      shareEnough &&
        (offline === undefined || Math.abs(share.value - offline) <= limits.heavyShareTolerance),
    ),
    value: `heavy ${pct(share.value)}, light ${pct(1 - share.value)} (${share.samples} decisions)`,
    target: offline === undefined
      ? `≥ ${limits.minDecisions} decisions`
      : `heavy within ${pct(limits.heavyShareTolerance)} of offline ${pct(offline)}`,
  });
  if (!applying) {
    out.push({
      name: "featurization consistency (offline vs online)",
      status: status(
        featureDeviation !== undefined && featureDeviation.samples > 0 &&
          featureDeviation.maxDeviation < limits.maxFeatureDeviation,
      ),
      value: featureDeviation === undefined || featureDeviation.samples === 0
        ? "no sampled vectors in the labeled log"
        : `max ${pct(featureDeviation.maxDeviation)}` +
          (featureDeviation.worstFeature ? ` (${featureDeviation.worstFeature})` : "") +
          `, ${pct(featureDeviation.differingShare)} of ${featureDeviation.samples} vectors differ`,
      target: `< ${pct(limits.maxFeatureDeviation)}`,
    });
  }
  out.push(challengerCriterion(snapshot, limits));
  return out;
}
