/**
 * Offline replay: a labeled query log through the router's full decision path (writes → Large,
 * parse fallback, model), scored as the design document asks — confusion, recall, FNR, FPR,
 * precision, AUC-PR, breakdowns, and the CPU-seconds each kind of mistake costs.
 *
 * ```sh
 * deno run -A training/replay.ts --log data/query_log.jsonl.gz --model <version|dir> [--split test]
 * ```
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { confusionCell, type ConfusionCounts } from "../src/feedback/confusion.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import type { ModelManifest } from "../src/model/manifest.ts";
import { loadModelSet, type ModelSet, modelSetFromBundles } from "../src/model/model_set.ts";
import { directoryModelSource, readBundleFolder } from "../src/model/model_source.ts";
import {
  createRouter,
  type DecisionReason,
  modelInput,
  type Router,
} from "../src/routing/router.ts";
import { createdMillis, ReplayHistory, submissionOrder } from "./history_replay.ts";
import { cliArgs, loadOptionsFromFlags, LOG_FLAGS } from "./featurize.ts";
import {
  type LoadOptions,
  loadQueryLog,
  type LoggedQuery,
  type QueryLog,
  type SplitName,
} from "./query_log.ts";

/** One replayed query: its label and what the router decided. */
export interface ReplayedQuery {
  readonly queryId: string;
  readonly heavy: boolean;
  readonly predictedHeavy: boolean;
  readonly score: number;
  readonly reason: DecisionReason;
  readonly statementKind: string;
  readonly user: string;
  readonly cpuSeconds: number;
}

/** Classification quality and misclassification cost of a set of replayed queries. */
export interface ReplaySummary {
  readonly rows: number;
  readonly heavy: number;
  /** Named as the live matrix names them (`src/feedback/confusion.ts`). */
  readonly confusion: ConfusionCounts;
  /** `null` when undefined (no heavy, or no light, rows). */
  readonly recall: number | null;
  readonly fnr: number | null;
  readonly fpr: number | null;
  readonly precision: number | null;
  readonly aucPr: number | null;
  /** CPU-seconds of heavy queries the router would send to Small: the danger. */
  readonly heavyCpuSecondsOnSmall: number;
  /** CPU-seconds of light queries the router would send to Large: the waste. */
  readonly lightCpuSecondsOnLarge: number;
}

/** A full replay report for one model version on one split. */
export interface ReplayReport extends ReplaySummary {
  readonly version: string;
  readonly split: SplitName | "all";
  /** Rows the model decided (reason `model` or `parse-fallback`): writes and DDL excluded. */
  readonly modelDecided: ReplaySummary;
  readonly byStatementKind: Readonly<Record<string, ReplaySummary>>;
  readonly byUser: Readonly<Record<string, ReplaySummary>>;
  readonly byReason: Readonly<Record<string, number>>;
}

const ratio = (a: number, b: number) => b === 0 ? null : a / b;

/**
 * Average precision (area under the precision-recall curve, step-wise as scikit-learn's
 * `average_precision_score`): tied scores form one step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { averagePrecision } from "./replay.ts";
 * assert(averagePrecision([1, 0], [0.9, 0.1]) === 1);
 * ```
 */
export function averagePrecision(
  labels: readonly number[],
  scores: readonly number[],
): number | null {
  const positives = labels.reduce((s, y) => s + (y ? 1 : 0), 0);
  if (positives === 0 || positives === labels.length) return null;
  const order = labels.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let tp = 0;
  let seen = 0;
  let previousRecall = 0;
  let ap = 0;
  for (let k = 0; k < order.length;) {
    const score = scores[order[k]];
    while (k < order.length && scores[order[k]] === score) {
      tp += labels[order[k]] ? 1 : 0;
      seen++;
      k++;
    }
    const recall = tp / positives;
    ap += (recall - previousRecall) * (tp / seen);
    previousRecall = recall;
  }
  return ap;
}

/**
 * Summarises replayed queries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarize } from "./replay.ts";
 * const s = summarize([]);
 * assert(s.rows === 0 && s.recall === null);
 * ```
 */
export function summarize(rows: readonly ReplayedQuery[]): ReplaySummary {
  // The matrix's cells by the live feedback loop's rule (one definition of which is which).
  const cells = { truePositive: 0, falseNegative: 0, trueNegative: 0, falsePositive: 0 };
  let danger = 0, waste = 0;
  for (const r of rows) {
    const cell = confusionCell(r.predictedHeavy ? "heavy" : "light", r.heavy ? "heavy" : "light");
    cells[cell]++;
    if (cell === "falseNegative") danger += r.cpuSeconds;
    if (cell === "falsePositive") waste += r.cpuSeconds;
  }
  const { truePositive: tp, falseNegative: fn, falsePositive: fp, trueNegative: tn } = cells;
  const recall = ratio(tp, tp + fn);
  return {
    rows: rows.length,
    heavy: tp + fn,
    confusion: cells,
    recall,
    fnr: recall === null ? null : 1 - recall,
    fpr: ratio(fp, fp + tn),
    precision: ratio(tp, tp + fp),
    aucPr: averagePrecision(rows.map((r) => r.heavy ? 1 : 0), rows.map((r) => r.score)),
    heavyCpuSecondsOnSmall: danger,
    lightCpuSecondsOnLarge: waste,
  };
}

function groupBy(
  rows: readonly ReplayedQuery[],
  key: (r: ReplayedQuery) => string,
): Record<string, ReplaySummary> {
  const groups = new Map<string, ReplayedQuery[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return Object.fromEntries(
    [...groups].sort(([a], [b]) => a < b ? -1 : 1).map((
      [k, v],
    ) => [k, summarize(v)]),
  );
}

/**
 * Routes every row through `router` (the same call an adapter makes for a live query) and
 * records decision and score.
 */
export async function replayRows(
  router: Router,
  rows: readonly LoggedQuery[],
  version?: string,
  history?: ReplayHistory,
): Promise<ReplayedQuery[]> {
  const out: ReplayedQuery[] = new Array(rows.length);
  // In submission order, each row reading the history of the runs that had ended by then.
  history?.reset();
  for (const i of history ? submissionOrder(rows) : rows.keys()) {
    const row = rows[i];
    await history?.advanceTo(createdMillis(row));
    const decision = await router.route(eventToQueryInput(row.event), version);
    out[i] = {
      queryId: row.queryId,
      heavy: row.heavy,
      predictedHeavy: decision.decision === "heavy",
      score: decision.modelScore,
      reason: decision.reason,
      statementKind: decision.statementKind,
      user: row.event.context.user ?? "",
      cpuSeconds: row.cpuSeconds,
    };
  }
  return out;
}

/** Builds the report of replayed rows. */
export function replayReport(
  version: string,
  split: SplitName | "all",
  rows: readonly ReplayedQuery[],
): ReplayReport {
  const byReason: Record<string, number> = {};
  for (const r of rows) byReason[r.reason] = (byReason[r.reason] ?? 0) + 1;
  return {
    version,
    split,
    ...summarize(rows),
    modelDecided: summarize(
      rows.filter((r) => r.reason === "model" || r.reason === "parse-fallback"),
    ),
    byStatementKind: groupBy(rows, (r) => r.statementKind),
    byUser: groupBy(rows, (r) => r.user || "(none)"),
    byReason,
  };
}

/**
 * Loads a model set for `model`: a bundle folder (holding `manifest.json`) is loaded alone; any
 * other value is a version looked up in `modelsDir` (the built-in `heuristic-v1` included).
 */
export async function loadModel(
  model: string,
  modelsDir = "models",
): Promise<{ models: ModelSet; version: string; bundleDir?: string }> {
  const bundle = await readBundleFolder(model);
  if (bundle !== undefined) {
    const { version } = bundle.manifest;
    const models = await modelSetFromBundles([bundle], version);
    return { models, version, bundleDir: model };
  }
  // Throws UnknownModelVersionError listing what is loaded; the built-in heuristic needs no
  // models folder at all.
  const models = await loadModelSet(directoryModelSource(modelsDir), model);
  const dir = join(modelsDir, model);
  const hasManifest = await readFile(join(dir, "manifest.json")).then(() => true, () => false);
  return { models, version: model, bundleDir: hasManifest ? dir : undefined };
}

/**
 * The split definition a model was evaluated with (its manifest's label thresholds and time
 * boundaries), so a replay scores exactly the rows the training run held out.
 */
export function loadOptionsOfManifest(manifest: ModelManifest): LoadOptions {
  const data = (manifest.trainingData ?? {}) as {
    labelThresholds?: LoadOptions["thresholds"];
    splitBoundaries?: { validStart?: string; testStart?: string };
    splitBy?: LoadOptions["splitBy"];
  };
  const time = (s?: string) => s === undefined ? undefined : Date.parse(s);
  return {
    thresholds: data.labelThresholds,
    splitBy: data.splitBy,
    boundaries: data.splitBoundaries
      ? {
        validStart: time(data.splitBoundaries.validStart),
        testStart: time(data.splitBoundaries.testStart),
      }
      : undefined,
  };
}

/** Scores written by `train.py` for the test split. */
interface PythonScores {
  readonly version: string;
  readonly threshold: number;
  readonly queryIds: readonly string[];
  readonly native: readonly number[];
  /** The novelty rule's verdict per row, as Python computed it. */
  readonly unfamiliar?: readonly boolean[];
  readonly onnxruntime: readonly number[];
}

/** Outcome of the Deno-side parity check. */
export interface ParityResult {
  readonly rows: number;
  /** Max |onnxruntime-web − native XGBoost| over raw float32 scores. */
  readonly maxAbsDiffRaw: number;
  /** Max |router's reported modelScore (6 decimals) − native XGBoost|. */
  readonly maxAbsDiffRouter: number;
  readonly decisionMismatches: number;
  readonly missing: number;
}

/**
 * Deno-side parity: for every test query Python scored, the router (featurizer + onnxruntime-web)
 * must give the native XGBoost score within `tolerance` and the same decision.
 */
export async function checkParity(
  router: Router,
  version: string,
  rows: readonly LoggedQuery[],
  scoresFile: string,
  history?: ReplayHistory,
): Promise<ParityResult> {
  const python = JSON.parse(await readFile(scoresFile, "utf8")) as PythonScores;
  const byId = new Map(rows.map((r) => [r.queryId, r]));
  const model = router.models.get(version);
  let maxRaw = 0, maxRouter = 0, mismatches = 0, compared = 0;
  const scored = python.queryIds.flatMap((id, i) => {
    const row = byId.get(id);
    return row ? [{ i, row }] : [];
  });
  const missing = python.queryIds.length - scored.length;
  history?.reset();
  const order = history ? submissionOrder(scored.map((s) => s.row)) : scored.keys();
  for (const k of order) {
    const { i, row } = scored[k];
    await history?.advanceTo(createdMillis(row));
    const input = eventToQueryInput(row.event);
    const decision = await router.route(input, version);
    if (decision.reason === "write-statement") continue;
    // The raw score of the very vector the router scored (history read the router's way).
    const vector = model.featurize(await modelInput(model.manifest, input, history)).vector;
    const [raw] = await model.scorer.score([vector]);
    const native = python.native[i];
    maxRaw = Math.max(maxRaw, Math.abs(raw - native));
    maxRouter = Math.max(maxRouter, Math.abs(decision.modelScore - native));
    const nativeHeavy = python.unfamiliar?.[i] === true || native >= model.manifest.threshold;
    if (nativeHeavy !== (decision.decision === "heavy")) mismatches++;
    compared++;
  }
  return {
    rows: compared,
    maxAbsDiffRaw: maxRaw,
    maxAbsDiffRouter: maxRouter,
    decisionMismatches: mismatches,
    missing,
  };
}

/** Options of {@linkcode replay}. */
export interface ReplayOptions extends LoadOptions {
  readonly log: string;
  readonly model: string;
  readonly modelsDir?: string;
  readonly split?: SplitName | "all";
}

/** Result of {@linkcode replay}. */
export interface ReplayResult {
  readonly report: ReplayReport;
  readonly parity?: ParityResult;
}

/** A log replayed through one model version (see {@linkcode withReplayedLog}). */
export interface ReplayedLog {
  readonly version: string;
  readonly bundleDir?: string;
  readonly log: QueryLog;
  /** The rows of the chosen split, in time order. */
  readonly rows: readonly LoggedQuery[];
  /** The router's decision for each of `rows`, in the same order. */
  readonly replayed: readonly ReplayedQuery[];
  readonly router: Router;
  /** The history the router reads, for models with history features. */
  readonly history?: ReplayHistory;
}

/**
 * Loads the model and the log (label thresholds and split boundaries default to the model's
 * own), routes the chosen split through the full decision path, hands the result to `use`, then
 * releases the model. The one replay path: `replay`, `promote` and the capacity planner all use it.
 */
export async function withReplayedLog<T>(
  options: ReplayOptions,
  use: (replayed: ReplayedLog) => Promise<T>,
): Promise<T> {
  const { models, version, bundleDir } = await loadModel(options.model, options.modelsDir);
  try {
    const own = loadOptionsOfManifest(models.get(version).manifest);
    const log = await loadQueryLog(options.log, {
      thresholds: options.thresholds ?? own.thresholds,
      splitBy: options.splitBy ?? own.splitBy,
      boundaries: { ...own.boundaries, ...definedOnly(options.boundaries ?? {}) },
    });
    const split = options.split ?? "test";
    const rows = split === "all" ? log.rows : log.rows.filter((r) => r.split === split);
    // A model with history features reads the log's own history, point-in-time (over every
    // row of the log, whatever the split replayed), through the store as the router would.
    const history = models.get(version).manifest.featureSpec.history
      ? new ReplayHistory(log.rows)
      : undefined;
    const router = createRouter({
      models,
      clusters: { small: "small", large: "large" },
      cacheSize: 0,
      history,
    });
    const replayed = await replayRows(router, rows, version, history);
    return await use({ version, bundleDir, log, rows, replayed, router, history });
  } finally {
    await models.close();
  }
}

/**
 * Replays a log through a model version and, when the bundle carries Python's test scores,
 * checks score parity too. Label thresholds and split boundaries default to the model's own.
 */
export function replay(options: ReplayOptions): Promise<ReplayResult> {
  return withReplayedLog(
    options,
    async ({ version, bundleDir, log, replayed, router, history }) => {
      const report = replayReport(version, options.split ?? "test", replayed);
      const scoresFile = bundleDir ? join(bundleDir, "test_scores.json") : undefined;
      const hasScores = scoresFile !== undefined &&
        await readFile(scoresFile).then(() => true, () => false);
      const parity = hasScores
        ? await checkParity(router, version, log.rows, scoresFile, history)
        : undefined;
      return { report, parity };
    },
  );
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const pct = (v: number | null) => v === null ? "n/a" : `${(v * 100).toFixed(2)}%`;
const num = (v: number | null) => v === null ? "n/a" : v.toFixed(4);

/** Markdown table rows for summaries, one per key. */
export function summaryTable(
  entries: Readonly<Record<string, ReplaySummary>>,
  label: string,
): string {
  const lines = [
    `| ${label} | rows | heavy | recall | FNR | FPR | precision | AUC-PR | TP | FN | FP | TN | heavy CPU-s on Small | light CPU-s on Large |`,
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [key, s] of Object.entries(entries)) {
    const c = s.confusion;
    lines.push(
      `| ${key} | ${s.rows} | ${s.heavy} | ${pct(s.recall)} | ${pct(s.fnr)} | ${pct(s.fpr)} | ` +
        `${pct(s.precision)} | ${
          num(s.aucPr)
        } | ${c.truePositive} | ${c.falseNegative} | ${c.falsePositive} | ` +
        `${c.trueNegative} | ` +
        `${s.heavyCpuSecondsOnSmall.toFixed(1)} | ${s.lightCpuSecondsOnLarge.toFixed(1)} |`,
    );
  }
  return lines.join("\n");
}

/** The report as Markdown (what the CLI prints and `train` appends to `report.md`). */
export function formatReport(report: ReplayReport, parity?: ParityResult): string {
  const topUsers = Object.fromEntries(
    Object.entries(report.byUser).sort(([, a], [, b]) => b.rows - a.rows).slice(0, 20),
  );
  const parts = [
    `### Replay of ${report.version} on the ${report.split} split (full router path)`,
    "",
    summaryTable({
      [`${report.version} (all rows)`]: report,
      [`${report.version} (model-decided rows)`]: report.modelDecided,
    }, "model"),
    "",
    `Decisions by reason: ${JSON.stringify(report.byReason)}`,
    "",
    "By statement kind:",
    "",
    summaryTable(report.byStatementKind, "kind"),
    "",
    "By user (top 20 by rows):",
    "",
    summaryTable(topUsers, "user"),
  ];
  if (parity) {
    parts.push(
      "",
      `Parity, router (onnxruntime-web) vs native XGBoost on ${parity.rows} test rows: ` +
        `max |Δ| raw ${parity.maxAbsDiffRaw.toExponential(2)}, as reported (6 decimals) ` +
        `${parity.maxAbsDiffRouter.toExponential(2)}, ${parity.decisionMismatches} decision ` +
        `mismatches, ${parity.missing} ids missing from the log.`,
    );
  }
  return parts.join("\n");
}

/** Parity tolerance the issue sets for scores across runtimes. */
export const PARITY_TOLERANCE = 1e-5;

if (import.meta.main) {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      ...LOG_FLAGS,
      model: { type: "string" },
      "models-dir": { type: "string", default: "models" },
      split: { type: "string", default: "test" },
      json: { type: "boolean", default: false },
    },
  });
  if (!values.log || !values.model) {
    console.error(
      "usage: replay.ts --log <log.jsonl[.gz]> --model <version|bundle dir> " +
        "[--split train|valid|test|all] [--models-dir models] [--labels labels.json] [--json]",
    );
    Deno.exit(2);
  }
  const flags = await loadOptionsFromFlags(values);
  const result = await replay({
    log: values.log,
    model: values.model,
    modelsDir: values["models-dir"],
    split: values.split as SplitName | "all",
    thresholds: flags.thresholds,
    boundaries: flags.boundaries,
  });
  console.log(
    values.json ? JSON.stringify(result, null, 1) : formatReport(result.report, result.parity),
  );
  const p = result.parity;
  if (p && (p.maxAbsDiffRaw > PARITY_TOLERANCE || p.decisionMismatches > 0)) {
    console.error(`parity check FAILED: ${JSON.stringify(p)}`);
    Deno.exit(1);
  }
}
