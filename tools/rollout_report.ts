/**
 * `deno task rollout-report`: prints the current stage's exit criteria, PASS or FAIL each, from
 * a running router (`GET /v1/admin/rollout/report`) and, when a labeled log is given, the
 * featurization consistency: the feature vectors the router sampled online against what the
 * training pipeline computes offline for the same logged queries.
 *
 * Usage: `deno task rollout-report [--router URL] [--labeled-log PATH] [--models DIR] [--json]`
 * (defaults: `ROUTER_URL` or `http://127.0.0.1:8080`, `LABELED_LOG_PATH`, `MODELS_DIR` or
 * `models/`); the admin token comes from `ROUTER_ADMIN_TOKEN`. Exit status 0 when nothing
 * FAILs, 1 otherwise, 2 when the router cannot be asked.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createFeaturizer, type Featurizer } from "../src/features/featurizer.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import { directoryModelSource } from "../src/model/model_source.ts";
import { HEURISTIC_MANIFEST } from "../src/model/heuristic.ts";
import {
  type FeatureDeviation,
  featureDeviation,
  type SparseFeatures,
} from "../src/rollout/feature_sample.ts";
import {
  type Criterion,
  exitCriteria,
  type ReportSnapshot,
} from "../src/rollout/rollout_report.ts";
import type { DecisionRecord } from "../src/store/store.ts";
import { loadQueryLog } from "../training/query_log.ts";

/** A version's featurizer and its feature names. */
export interface VersionFeaturizer {
  readonly featurize: Featurizer;
  readonly names: readonly string[];
}

/** Featurizers by model version, from a models folder's manifests (no ONNX session needed). */
export async function featurizersFrom(modelsDir: string): Promise<Map<string, VersionFeaturizer>> {
  const out = new Map<string, VersionFeaturizer>();
  const { bundles } = await directoryModelSource(modelsDir).load();
  for (const manifest of [HEURISTIC_MANIFEST, ...bundles.map((b) => b.manifest)]) {
    out.set(manifest.version, {
      featurize: createFeaturizer(manifest.featureSpec),
      names: manifest.features,
    });
  }
  return out;
}

/**
 * The featurization consistency of a labeled log: every logged query whose decision record
 * carries a sampled online vector is featurized again offline, as training does, with its
 * version's featurizer; the worst version's deviation is returned.
 */
export async function logFeatureDeviation(
  path: string,
  featurizers: ReadonlyMap<string, VersionFeaturizer>,
): Promise<FeatureDeviation & { readonly modelVersion?: string }> {
  const log = await loadQueryLog(path);
  const byVersion = new Map<
    string,
    { names: readonly string[]; pairs: { online: SparseFeatures; offline: Float32Array }[] }
  >();
  for (const row of log.rows) {
    const routing = (row.event as { routing?: DecisionRecord | null }).routing;
    const version = routing?.features && featurizers.get(routing.modelVersion);
    if (!routing?.features || !version) continue;
    const offline = version.featurize(eventToQueryInput(row.event)).vector;
    const group = byVersion.get(routing.modelVersion) ?? { names: version.names, pairs: [] };
    group.pairs.push({ online: routing.features, offline });
    byVersion.set(routing.modelVersion, group);
  }
  let worst: FeatureDeviation & { modelVersion?: string } = {
    samples: 0,
    maxDeviation: 0,
    differingShare: 0,
  };
  let samples = 0;
  for (const [modelVersion, { names, pairs }] of byVersion) {
    const deviation = featureDeviation(pairs, names);
    samples += deviation.samples;
    if (worst.samples === 0 || deviation.maxDeviation > worst.maxDeviation) {
      worst = { ...deviation, modelVersion };
    }
  }
  return { ...worst, samples };
}

/** JSON carries a rate without samples as `null`; the criteria need `NaN` back. */
export function reviveSnapshot(json: ReportSnapshot): ReportSnapshot {
  const nan = (value: number | null) => value === null ? Number.NaN : value;
  return {
    ...json,
    guards: json.guards.map((r) => ({ ...r, value: nan(r.value) })),
    fpr: { ...json.fpr, value: nan(json.fpr.value) },
    heavyShare: { ...json.heavyShare, value: nan(json.heavyShare.value) },
  };
}

/** The criteria as an aligned text table. */
export function formatCriteria(stage: string, criteria: readonly Criterion[]): string {
  const width = Math.max(...criteria.map((c) => c.name.length));
  const lines = criteria.map((c) =>
    `${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.value}  (target: ${c.target})`
  );
  const failed = criteria.filter((c) => c.status === "FAIL").length;
  return [
    `Rollout stage: ${stage}`,
    ...lines,
    failed === 0 ? "All exit criteria PASS." : `${failed} exit criteria FAIL.`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      router: { type: "string", default: Deno.env.get("ROUTER_URL") ?? "http://127.0.0.1:8080" },
      "labeled-log": { type: "string", default: Deno.env.get("LABELED_LOG_PATH") },
      models: {
        type: "string",
        default: Deno.env.get("MODELS_DIR") ?? new URL("../models", import.meta.url).pathname,
      },
      json: { type: "boolean", default: false },
    },
  });
  const token = Deno.env.get("ROUTER_ADMIN_TOKEN") ?? "";
  const response = await fetch(`${values.router}/v1/admin/rollout/report`, {
    headers: { authorization: `Bearer ${token}` },
  }).catch((error) => error as Error);
  if (response instanceof Error || !response.ok) {
    const why = response instanceof Error
      ? response.message
      : `${response.status} ${await response.text()}`;
    console.error(`cannot read ${values.router}/v1/admin/rollout/report: ${why}`);
    Deno.exit(2);
  }
  const snapshot = reviveSnapshot((await response.json()).snapshot);
  const deviation = values["labeled-log"]
    ? await logFeatureDeviation(values["labeled-log"], await featurizersFrom(values.models))
    : undefined;
  const criteria = exitCriteria(snapshot, deviation);
  const stage = snapshot.state.mode === "canary"
    ? `canary ${snapshot.state.canaryPercent} %`
    : snapshot.state.mode;
  console.log(
    values.json
      ? JSON.stringify({ stage, criteria, featureDeviation: deviation }, null, 2)
      : formatCriteria(stage, criteria),
  );
  Deno.exit(criteria.some((c) => c.status === "FAIL") ? 1 : 0);
}
