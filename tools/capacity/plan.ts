/**
 * The capacity and cost planner a platform team runs on its own query log: replays the log
 * through the router (the training replay path), builds each cluster's demand over time, sizes
 * Small and Large, prices them against the symmetric fleet and writes a report with plots.
 *
 * ```sh
 * npx deno task plan -- --log data/query_log.jsonl.gz [--model V] [--node-cores 105] \
 *   [--node-cost 229.46] [--target-util 0.7] [--out plan_report]
 * npx deno task plan -- --current-nodes 405 --current-util 0.55 --light-cpu-share 0.05 \
 *   --light-peak-cores 2500          # fleet-level figures only (no log)
 * ```
 *
 * @module
 */

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  durationSeconds,
  isResourceFailure,
  type QueryCompletedEvent,
} from "../../src/labels/query_event.ts";
import { cliArgs } from "../../training/featurize.ts";
import { instantMillis } from "../../src/features/context_features.ts";
import { withReplayedLog } from "../../training/replay.ts";
import type { QueryLoad } from "./demand.ts";
import {
  type CapacityPlan,
  type FiguresPlan,
  type FleetFigures,
  planCapacity,
  planFromFigures,
  type PlanOptions,
  type RoutedQuery,
  type SensitivityRow,
  type SizingOptions,
  thresholdSensitivity,
} from "./planner.ts";
import { lineChart } from "./svg_chart.ts";

/** Design document 7.3: a c6a.32xlarge gives Trino 105 of its 128 vCPUs. */
export const DESIGN_NODE_CORES = 105;
/** Design document 7.3: $229.46 per node per week. */
export const DESIGN_NODE_COST = 229.46;

/** The fields of a completed event that place it in time (beyond {@linkcode QueryCompletedEvent}). */
type TimedEvent = QueryCompletedEvent & {
  readonly executionStartTime?: number | string;
  readonly statistics: { readonly executionTime?: number | string; queuedTime?: number | string };
};

/**
 * A completed query's execution interval and footprint. Execution (not queueing) is when CPU is
 * spent: it starts at `executionStartTime`, else `endTime − executionTime`, else at creation
 * plus queued time; without an end time the interval is the wall time from creation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queryLoadOfEvent } from "./plan.ts";
 * const load = queryLoadOfEvent({
 *   metadata: { queryId: "q" },
 *   statistics: { cpuTime: 2, peakUserMemoryBytes: 5, wallTime: 3 },
 *   context: {},
 *   createTime: "2026-01-01T00:00:00Z",
 *   endTime: "2026-01-01T00:00:03Z",
 * });
 * assert.equal(load.end - load.start, 3000);
 * assert.equal(load.cpuSeconds, 2);
 * ```
 */
export function queryLoadOfEvent(event: QueryCompletedEvent): QueryLoad {
  const e = event as TimedEvent;
  const created = instantMillis(e.createTime);
  const wall = durationSeconds(e.statistics.wallTime) * 1000;
  let end = instantMillis(e.endTime);
  if (!Number.isFinite(end)) end = created + (Number.isFinite(wall) ? wall : 0);
  let start = instantMillis(e.executionStartTime);
  if (!Number.isFinite(start)) {
    const execution = durationSeconds(e.statistics.executionTime) * 1000;
    const queued = durationSeconds(e.statistics.queuedTime) * 1000;
    start = Number.isFinite(execution)
      ? end - execution
      : created + (Number.isFinite(queued) ? queued : 0);
  }
  if (!Number.isFinite(start)) start = end;
  return {
    start: Math.min(start, end),
    end,
    cpuSeconds: durationSeconds(e.statistics.cpuTime) || 0,
    peakMemoryBytes: e.statistics.peakUserMemoryBytes ?? 0,
  };
}

/** Options of {@linkcode planLog}. */
export interface PlanLogOptions extends Omit<PlanOptions, "small" | "threshold"> {
  readonly log: string;
  readonly model: string;
  readonly modelsDir?: string;
  readonly split?: "train" | "valid" | "test" | "all";
  /** Small's per-query caps; default the label thresholds (what Small is meant to hold). */
  readonly smallMaxCpuSeconds?: number;
  readonly smallMaxMemoryBytes?: number;
}

/** A log-based plan with its inputs, ready to report. */
export interface LogPlan {
  readonly version: string;
  readonly threshold: number;
  readonly rows: number;
  readonly heavy: number;
  readonly labelThresholds: { cpuSeconds: number; peakMemoryBytes: number };
  readonly options: PlanOptions;
  readonly plan: CapacityPlan;
  readonly sensitivity: readonly SensitivityRow[];
  readonly queries: readonly RoutedQuery[];
}

/** Replays `options.log` through the router and plans capacity for it. */
export function planLog(options: PlanLogOptions): Promise<LogPlan> {
  return withReplayedLog(
    { log: options.log, model: options.model, modelsDir: options.modelsDir, split: options.split },
    ({ version, log, rows, replayed, router }) => {
      const queries: RoutedQuery[] = rows.map((row, i) => {
        const r = replayed[i];
        return {
          ...queryLoadOfEvent(row.event),
          queryId: row.queryId,
          heavy: row.heavy,
          predictedHeavy: r.predictedHeavy,
          modelDecided: r.reason === "model" || r.reason === "parse-fallback",
          score: r.score,
          resourceFailure: isResourceFailure(row.event),
        };
      });
      const planOptions: PlanOptions = {
        ...options,
        small: {
          maxCpuSeconds: options.smallMaxCpuSeconds ?? log.thresholds.cpuSeconds,
          maxMemoryBytes: options.smallMaxMemoryBytes ?? log.thresholds.peakMemoryBytes,
        },
      };
      const threshold = router.models.get(version).manifest.threshold;
      const plan = planCapacity(queries, planOptions);
      return Promise.resolve({
        version,
        threshold,
        rows: queries.length,
        heavy: queries.filter((q) => q.heavy).length,
        labelThresholds: log.thresholds,
        options: planOptions,
        plan,
        sensitivity: thresholdSensitivity(queries, planOptions, sensitivityThresholds(threshold)),
        queries,
      });
    },
  );
}

/**
 * Thresholds to try: multiples of the model's (¼× to 4×) and a fixed grid from 0.001 to 0.5, so
 * the table reaches both a strict and a lax router whatever the model's own threshold is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sensitivityThresholds } from "./plan.ts";
 * assert.deepEqual(sensitivityThresholds(0.2), [0.001, 0.01, 0.05, 0.1, 0.2, 0.25, 0.4, 0.5, 0.8]);
 * ```
 */
export function sensitivityThresholds(threshold: number): number[] {
  const multiples = [0.25, 0.5, 1, 2, 4].map((m) => Number((threshold * m).toPrecision(4)));
  const grid = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5];
  return [...new Set([...multiples, ...grid])].filter((t) => t > 0 && t <= 1).sort((a, b) => a - b);
}

const money = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 });
const pct = (v: number | null) => v === null ? "n/a" : `${(v * 100).toFixed(1)}%`;
const f2 = (v: number) => v.toFixed(2);

/** The assumptions every plan rests on, in words (printed in the report). */
export function assumptionsOf(p: LogPlan): string[] {
  const o = p.options;
  return [
    `Replay: ${p.rows} queries of the log (${p.heavy} heavy by the label rules: CPU ≥ ` +
    `${p.labelThresholds.cpuSeconds} s, peak memory > ${mib(p.labelThresholds.peakMemoryBytes)}, ` +
    `a resource failure, or a write) routed by model ${p.version} (threshold ${p.threshold}) ` +
    `through the router's full decision path; the decision cache and template cache start empty.`,
    "A query's CPU-seconds are spread evenly over its execution interval (execution start to end, " +
    "queueing excluded); demand of a bucket = CPU-seconds in it ÷ its length.",
    `Buckets of ${o.bucketMs / 1000} s; each cluster is sized for the 95th percentile of its ` +
    `bucket demand, at ≤ ${pct(o.targetUtil)} of its cores (Large: ≤ ${
      pct(o.largeUtil ?? o.targetUtil)
    }). The symmetric fleet is sized by the same rule on all queries.`,
    `Nodes of ${o.nodeCores} cores for Trino at ${money(o.nodeCost)} each per period` +
    (o.nodeMemoryBytes ? `, ${gib(o.nodeMemoryBytes)} memory each (peak memory also sized)` : "") +
    "; the router's pods are priced as " + `${o.routerCores} cores' share of a node.`,
    `A heavy query sent to Small that exceeds its caps (CPU ${o.small.maxCpuSeconds} s, memory ` +
    `${
      mib(o.small.maxMemoryBytes)
    }; default the label thresholds) burns CPU there up to the cap, ` +
    "then runs in full on Large right after (transparent retry): retries burn on both.",
    `Misroute headroom: Small is provisioned for an FNR of ${
      pct(Math.max(o.assumedFnr ?? 0, p.plan.placement.fnr ?? 0))
    } (measured on this replay: ${pct(p.plan.placement.fnr)}); the difference is added as that ` +
    "share of every heavy query's capped CPU.",
    "Peak memory assumes each query holds its peak for its whole interval (an upper bound).",
    p.plan.now.basis === "given"
      ? `"Now" is the given fleet of ${p.plan.now.nodes} nodes.`
      : '"Now" is the symmetric fleet right-sized by the same rule (no --current-nodes given), ' +
        "so the reduction shown is what the split alone saves, not right-sizing.",
  ];
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(0)} GiB`;

/** The cost table rows of a plan, as Markdown. */
export function costTable(p: CapacityPlan, nodeCost: number): string {
  const row = (name: string, c: CapacityPlan["small"] | CapacityPlan["symmetric"]) =>
    `| ${name} | ${c.demand.queries} | ${f2(c.demand.meanCores)} | ${f2(c.demand.p95Cores)} | ` +
    `${f2(c.demand.peakCores)} | ${c.demand.p95Concurrency} / ${c.demand.peakConcurrency} | ` +
    `${mib(c.demand.peakMemoryBytes)} | ${f2(c.sizingCores)} | ${c.nodes} | ${
      pct(c.utilAtSizing)
    } | ${money(c.cost)} |`;
  return [
    "| cluster | queries | mean cores | P95 cores | peak cores | P95 / peak concurrency | peak memory | sized for (cores) | nodes | util at sizing | cost |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    row("symmetric (all queries)", p.symmetric),
    row("Small", p.small),
    row("Large", p.large),
    `| router pods | | | | | | | | | | ${money(p.routerCost)} |`,
    "",
    `| | nodes | cost |`,
    "|---|---|---|",
    `| now (${
      p.now.basis === "given" ? "given fleet" : "symmetric, right-sized"
    }; mean utilisation ${pct(p.now.meanUtil)}) | ${p.now.nodes} | ${money(p.now.cost)} |`,
    `| smart routing (Small + Large + router) | ${p.small.nodes + p.large.nodes} + router | ${
      money(p.routedCost)
    } |`,
    `| **CTS reduction** | | **${pct(p.ctsReduction)}** |`,
    "",
    `(node cost ${money(nodeCost)} per period)`,
  ].join("\n");
}

/** The full Markdown report of a log-based plan. */
export function formatPlan(p: LogPlan): string {
  const pl = p.plan;
  const c = pl.placement.confusion;
  return [
    `# Capacity plan: ${p.rows} queries, model ${p.version}`,
    "",
    `Routing (replayed): TP ${c.truePositive}, FN ${c.falseNegative}, FP ${c.falsePositive}, ` +
    `TN ${c.trueNegative}; FNR ${pct(pl.placement.fnr)}, FPR ${
      pct(pl.placement.fpr)
    }; ${pl.placement.retried} retried on Large; heavy CPU-s on ` +
    `Small ${f2(pl.placement.heavyCpuSecondsOnSmall)}, light CPU-s on Large ${
      f2(pl.placement.lightCpuSecondsOnLarge)
    }. Small misroute headroom: ${f2(pl.small.headroomCores)} cores.`,
    "",
    costTable(pl, p.options.nodeCost),
    "",
    "![demand over time](demand.svg)",
    "",
    "## Sensitivity to the threshold",
    "",
    "| threshold | FNR | FPR | Small nodes | Large nodes | routed cost | CTS reduction |",
    "|---|---|---|---|---|---|---|",
    ...p.sensitivity.map((s) =>
      `| ${s.threshold}${s.threshold === Number(p.threshold.toPrecision(4)) ? " (model)" : ""} | ${
        pct(s.fnr)
      } | ${pct(s.fpr)} | ${s.smallNodes} | ${s.largeNodes} | ${money(s.routedCost)} | ${
        pct(s.ctsReduction)
      } |`
    ),
    "",
    "![sensitivity](sensitivity.svg)",
    "",
    "## Assumptions",
    "",
    ...assumptionsOf(p).map((a) => `- ${a}`),
    "",
  ].join("\n");
}

/** The plan's plots: demand over time per cluster, and cost / FNR / FPR against the threshold. */
export function planCharts(p: LogPlan): { demand: string; sensitivity: string } {
  const pl = p.plan;
  const minutes = (d: CapacityPlan["small"]["demand"]) =>
    d.coresPerBucket.map((v, i) => [(i * d.bucketMs) / 60_000, v] as const);
  const demand = lineChart({
    title: `Cores busy per ${pl.symmetric.demand.bucketMs / 1000} s bucket`,
    xLabel: "minutes since the first query",
    yLabel: "cores busy",
    series: [
      { name: "symmetric (all queries)", points: minutes(pl.symmetric.demand), step: true },
      { name: "Small (routed)", points: minutes(pl.small.demand), step: true },
      { name: "Large (routed)", points: minutes(pl.large.demand), step: true },
    ],
  });
  const now = pl.now.cost;
  const sensitivity = lineChart({
    title: "Threshold sensitivity (log scale)",
    xLabel: "model threshold",
    yLabel: "share (cost as share of now)",
    logX: true,
    series: [
      {
        name: "routed cost / now",
        points: p.sensitivity.map((s) => [s.threshold, s.routedCost / now]),
      },
      { name: "FNR", points: p.sensitivity.map((s) => [s.threshold, s.fnr ?? NaN]) },
      { name: "FPR", points: p.sensitivity.map((s) => [s.threshold, s.fpr ?? NaN]) },
    ],
  });
  return { demand, sensitivity };
}

/** The report of a figures-only plan, as Markdown. */
export function formatFiguresPlan(
  figures: FleetFigures,
  options: SizingOptions,
  p: FiguresPlan,
): string {
  const util = (cores: number, nodes: number) => pct(cores / (nodes * options.nodeCores));
  return [
    `# Capacity plan from fleet figures: ${figures.currentNodes} nodes at ${
      pct(figures.currentUtil)
    }`,
    "",
    "| cluster | sized for (cores) | nodes | util at sizing | cost |",
    "|---|---|---|---|---|",
    `| now (symmetric) | ${money(p.meanCores)} (mean) | ${figures.currentNodes} | ${
      pct(figures.currentUtil)
    } | ${money(p.nowCost)} |`,
    `| Small | ${money(p.smallCores)} | ${p.smallNodes} | ${util(p.smallCores, p.smallNodes)} | ${
      money(p.smallNodes * options.nodeCost)
    } |`,
    `| Large | ${money(p.largeCores)} | ${p.largeNodes} | ${util(p.largeCores, p.largeNodes)} | ${
      money(p.largeNodes * options.nodeCost)
    } |`,
    `| router pods | ${options.routerCores} | | | ${money(p.routerCost)} |`,
    `| **smart routing** | | ${p.smallNodes + p.largeNodes} + router | | **${
      money(p.routedCost)
    }** (CTS reduction **${pct(p.ctsReduction)}**) |`,
    "",
    "Assumptions: only a mean utilisation is known, so the mean stands in for Large's P95 " +
    `demand; Small is sized for the light peak (${
      figures.lightPeakCores ?? "= light mean"
    } cores) less the FPR's share (${pct(figures.assumedFpr)} of light CPU goes to Large) plus ` +
    `${
      pct(figures.assumedFnr)
    } of heavy CPU misrouted onto it in full; Large keeps all heavy CPU ` +
    `(misroutes are retried there); Small at ≤ ${pct(options.targetUtil)}, Large at ≤ ${
      pct(options.largeUtil ?? options.targetUtil)
    } of ${options.nodeCores}-core nodes.`,
    "",
  ].join("\n");
}

const USAGE = "usage: plan.ts --log <log.jsonl[.gz]> [--model V] [--models-dir models] " +
  "[--split all|train|valid|test] [--node-cores 105] [--node-cost 229.46] [--target-util 0.7] " +
  "[--large-util U] [--node-memory-gib G] [--bucket-seconds 60] [--small-max-cpu S] " +
  "[--small-max-memory-mib M] [--assumed-fnr 0.01] [--current-nodes N] [--router-cores 6] " +
  "[--out plan_report]\n   or: plan.ts --current-nodes N --current-util U --light-cpu-share S " +
  "[--light-peak-cores C] [--assumed-fnr 0.01] [--assumed-fpr 0.03] [sizing flags]";

/**
 * A non-negative number flag of `parseArgs` values (`undefined` when absent), with an error
 * naming the flag when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { numberFlag } from "./plan.ts";
 * assert.equal(numberFlag({ rate: "4" }, "rate"), 4);
 * assert.throws(() => numberFlag({ rate: "fast" }, "rate"), /--rate must be/);
 * ```
 */
export function numberFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new Error(`--${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      log: { type: "string" },
      model: { type: "string" },
      "models-dir": { type: "string", default: "models" },
      split: { type: "string", default: "all" },
      "node-cores": { type: "string" },
      "node-cost": { type: "string" },
      "target-util": { type: "string" },
      "large-util": { type: "string" },
      "node-memory-gib": { type: "string" },
      "bucket-seconds": { type: "string" },
      "small-max-cpu": { type: "string" },
      "small-max-memory-mib": { type: "string" },
      "assumed-fnr": { type: "string" },
      "assumed-fpr": { type: "string" },
      "current-nodes": { type: "string" },
      "current-util": { type: "string" },
      "light-cpu-share": { type: "string" },
      "light-peak-cores": { type: "string" },
      "router-cores": { type: "string" },
      out: { type: "string", default: "plan_report" },
      json: { type: "boolean", default: false },
    },
  });
  const n = (name: string) => numberFlag(values, name);
  const sizing: SizingOptions = {
    nodeCores: n("node-cores") ?? DESIGN_NODE_CORES,
    nodeCost: n("node-cost") ?? DESIGN_NODE_COST,
    targetUtil: n("target-util") ?? 0.7,
    largeUtil: n("large-util"),
    nodeMemoryBytes: values["node-memory-gib"] ? n("node-memory-gib")! * 2 ** 30 : undefined,
    routerCores: n("router-cores") ?? 6,
  };
  if (!values.log) {
    const currentNodes = n("current-nodes"), currentUtil = n("current-util");
    const lightCpuShare = n("light-cpu-share");
    if (currentNodes === undefined || currentUtil === undefined || lightCpuShare === undefined) {
      console.error(USAGE);
      Deno.exit(2);
    }
    const figures: FleetFigures = {
      currentNodes,
      currentUtil,
      lightCpuShare,
      lightPeakCores: n("light-peak-cores"),
      assumedFnr: n("assumed-fnr") ?? 0.01,
      assumedFpr: n("assumed-fpr") ?? 0.03,
    };
    const result = planFromFigures(figures, sizing);
    console.log(
      values.json ? JSON.stringify(result, null, 1) : formatFiguresPlan(figures, sizing, result),
    );
    return;
  }
  const modelsDir = values["models-dir"]!;
  const model = values.model ??
    (await Deno.readTextFile(join(modelsDir, "DEFAULT"))).trim();
  const split = values.split as PlanLogOptions["split"];
  if (!["all", "train", "valid", "test"].includes(split ?? "")) {
    throw new Error(`--split must be all, train, valid or test, got ${JSON.stringify(split)}`);
  }
  const result = await planLog({
    ...sizing,
    log: values.log,
    model,
    modelsDir,
    split,
    bucketMs: (n("bucket-seconds") ?? 60) * 1000,
    smallMaxCpuSeconds: n("small-max-cpu"),
    smallMaxMemoryBytes: values["small-max-memory-mib"]
      ? n("small-max-memory-mib")! * 2 ** 20
      : undefined,
    assumedFnr: n("assumed-fnr") ?? 0.01,
    currentNodes: n("current-nodes"),
  });
  const report = formatPlan(result);
  const charts = planCharts(result);
  await mkdir(values.out!, { recursive: true });
  await writeFile(join(values.out!, "report.md"), report);
  await writeFile(join(values.out!, "demand.svg"), charts.demand);
  await writeFile(join(values.out!, "sensitivity.svg"), charts.sensitivity);
  const { queries: _queries, ...summary } = result;
  const json = JSON.stringify(summary, (k, v) => k === "coresPerBucket" ? undefined : v, 1);
  await writeFile(join(values.out!, "plan.json"), json);
  console.log(values.json ? json : report);
  console.error(`report, plots and plan.json written to ${values.out}/`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`plan: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
