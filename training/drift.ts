/**
 * The drift report (`deno task drift`): does recent traffic still look like what the serving
 * model was trained on? Featurizes a recent window of the labeled log (what the feedback loop
 * writes, `LABELED_LOG_PATH`) and the model's training reference with the model's own
 * featurizer, runs Evidently's data-drift preset on the dense features and the context columns
 * (`training/drift_report.py`, in the MLOps venv), and compares the label side: the window's
 * heavy rate and the model's recall on it against the training split. Writes an HTML report and
 * a JSON summary; exits 1 when drift is detected, so a nightly job can page or retrain.
 *
 * ```sh
 * deno task drift -- --window /var/log/router/labeled.jsonl [--since 2026-11-23T00:00:00Z] \
 *   [--model <version|bundle dir>] [--reference data/query_log.jsonl.gz] [--out reports/drift]
 * ```
 *
 * @module
 */

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FIXED_FEATURE_NAMES } from "../src/features/featurizer.ts";
import { TIME_FEATURE_NAMES } from "../src/features/context_features.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import type { LoadedModel } from "../src/model/model_set.ts";
import { createRouter } from "../src/routing/router.ts";
import { cliArgs } from "./featurize.ts";
import { loadQueryLog, type LoggedQuery } from "./query_log.ts";
import { loadModel, loadOptionsOfManifest, replayRows, summarize } from "./replay.ts";

const INSTALL_MLOPS = new URL("../.ci/install_mlops.sh", import.meta.url).pathname;
const REPORT_SCRIPT = new URL("./drift_report.py", import.meta.url).pathname;

/** Context columns compared as categories (a new user or tool shows up here). */
export const DRIFT_CATEGORICAL_COLUMNS = ["user", "source", "statement_kind"] as const;

/**
 * The dense features the report compares: the featurizer's fixed features, minus the time of
 * day and week (a window of a few hours always differs from a training span of days there).
 */
export const DRIFT_DENSE_FEATURES: readonly string[] = FIXED_FEATURE_NAMES.filter(
  (name) => !(TIME_FEATURE_NAMES as readonly string[]).includes(name),
);

/**
 * Evidently's default dataset-drift share is 0.5; SQL-shape features move together less than
 * generic tabular data: on the fixture an unchanged window drifts ~6% of the informative columns
 * by chance, a workload with new users and longer queries ~40%. 0.3 separates the two.
 */
export const DEFAULT_DRIFT_SHARE = 0.3;

/** Options of {@linkcode driftReport}. */
export interface DriftOptions {
  /** The recent window: a labeled query log (the router's `LABELED_LOG_PATH` file). */
  readonly window: string;
  /** Only window rows submitted at or after this instant (ISO 8601). */
  readonly since?: string;
  /** Model version (in `modelsDir`) or bundle folder; default: the folder's default model. */
  readonly model?: string;
  readonly modelsDir?: string;
  /** The training log; default: the one the model's manifest names. */
  readonly reference?: string;
  /** Folder for `drift_report.html`, `drift_summary.json` and the two feature tables. */
  readonly out: string;
  /**
   * Dataset drift when at least this share of the informative columns drifted (default
   * {@linkcode DEFAULT_DRIFT_SHARE}).
   */
  readonly driftShare?: number;
  /** Label side: drift when the window's recall is this far below the training split's. */
  readonly maxRecallDrop?: number;
  /** Label side: judge recall only with at least this many heavy rows in the window. */
  readonly minHeavyRows?: number;
}

/** Heavy rate and recall of one side. */
export interface LabelSide {
  readonly rows: number;
  readonly heavy: number;
  readonly heavyRate: number | null;
  readonly recall: number | null;
}

/** What the report found. */
export interface DriftSummary {
  readonly verdict: "drift" | "no-drift";
  readonly reasons: readonly string[];
  readonly modelVersion: string;
  readonly window: { readonly path: string; readonly since: string | null; readonly rows: number };
  readonly reference: { readonly path: string; readonly rows: number };
  readonly data: {
    readonly datasetDrift: boolean;
    readonly driftShare: number;
    readonly driftedShare: number;
    readonly driftedColumns: readonly string[];
    readonly columns: Readonly<
      Record<string, { method: string; score: number; threshold: number; drifted: boolean }>
    >;
  };
  readonly labels: {
    /** The window, replayed through the model. */
    readonly window: LabelSide;
    /** Heavy rate of the training split; recall on the held-out test split. */
    readonly training: LabelSide;
    readonly labelDrift: boolean;
  };
  readonly files: { readonly html: string; readonly summary: string };
}

/** One row of a feature table: dense features by name plus the context columns. */
function tableRow(model: LoadedModel, dense: readonly [string, number][], row: LoggedQuery) {
  const input = eventToQueryInput(row.event);
  const features = model.featurize(input);
  const out: Record<string, string | number> = {};
  for (const [name, index] of dense) out[name] = features.vector[index];
  out.user = input.user ?? "";
  out.source = input.source ?? "";
  out.statement_kind = features.statementKind;
  return out;
}

async function writeTable(path: string, rows: readonly Record<string, unknown>[]): Promise<void> {
  await writeFile(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} exited with ${out.code}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * Builds the report. Throws (rather than reporting "no drift") when either side has no rows:
 * an empty window proves nothing.
 */
export async function driftReport(options: DriftOptions): Promise<DriftSummary> {
  const loaded = await loadModel(
    options.model ?? await defaultModel(options.modelsDir),
    options.modelsDir,
  );
  try {
    const model = loaded.models.get(loaded.version);
    const { manifest } = model;
    const own = loadOptionsOfManifest(manifest);
    const manifestLog = (manifest.trainingData as { log?: { path?: string } } | undefined)?.log
      ?.path;
    const referencePath = options.reference ?? manifestLog;
    if (!referencePath) {
      throw new Error(`${loaded.version}: the manifest names no training log; pass --reference`);
    }
    // The manifest's split applies to its own training log; another reference log is cut by
    // its own time order (70/15/15) under the model's label thresholds.
    const referenceLog = await loadQueryLog(
      referencePath,
      referencePath === manifestLog ? own : { thresholds: own.thresholds },
    );
    const training = referenceLog.rows.filter((r) => r.split === "train");
    const heldOut = referenceLog.rows.filter((r) => r.split === "test");
    const since = options.since === undefined ? -Infinity : Date.parse(options.since);
    if (Number.isNaN(since)) throw new Error(`--since "${options.since}" is not an ISO instant`);
    const windowLog = await loadQueryLog(options.window, { thresholds: referenceLog.thresholds });
    const window = windowLog.rows.filter((r) => r.time >= since);
    if (training.length === 0) throw new Error(`${referencePath}: no rows in the train split`);
    if (window.length === 0) {
      throw new Error(
        `${options.window}: no rows${options.since ? ` since ${options.since}` : ""}`,
      );
    }

    const dense = DRIFT_DENSE_FEATURES
      .map((name) => [name, manifest.features.indexOf(name)] as [string, number])
      .filter(([, index]) => index >= 0);
    await mkdir(options.out, { recursive: true });
    const referenceTable = join(options.out, "reference_features.jsonl");
    const windowTable = join(options.out, "window_features.jsonl");
    await writeTable(referenceTable, training.map((r) => tableRow(model, dense, r)));
    await writeTable(windowTable, window.map((r) => tableRow(model, dense, r)));

    const venv = (await run("bash", [INSTALL_MLOPS])).trim().split("\n").at(-1)!;
    const html = join(options.out, "drift_report.html");
    const driftShare = options.driftShare ?? DEFAULT_DRIFT_SHARE;
    const evidently = JSON.parse(
      (await run(join(venv, "bin", "python"), [
        REPORT_SCRIPT,
        "--reference",
        referenceTable,
        "--current",
        windowTable,
        "--numerical",
        dense.map(([name]) => name).join(","),
        "--categorical",
        DRIFT_CATEGORICAL_COLUMNS.join(","),
        "--drift-share",
        String(driftShare),
        "--html",
        html,
      ])).trim().split("\n").at(-1)!,
    ) as DriftSummary["data"];

    const router = createRouter({
      models: loaded.models,
      clusters: { small: "small", large: "large" },
    });
    const windowReplay = summarize(await replayRows(router, window, loaded.version));
    const heldOutReplay = summarize(await replayRows(router, heldOut, loaded.version));
    const side = (rows: number, heavy: number, recall: number | null): LabelSide => ({
      rows,
      heavy,
      heavyRate: rows > 0 ? heavy / rows : null,
      recall,
    });
    const windowSide = side(window.length, windowReplay.heavy, windowReplay.recall);
    const trainingSide = side(
      training.length,
      training.filter((r) => r.heavy).length,
      heldOutReplay.recall,
    );
    const maxDrop = options.maxRecallDrop ?? 0.1;
    const minHeavy = options.minHeavyRows ?? 20;
    const labelDrift = windowSide.heavy >= minHeavy && windowSide.recall !== null &&
      trainingSide.recall !== null && windowSide.recall < trainingSide.recall - maxDrop;

    const reasons: string[] = [];
    const pct = (v: number | null) => v === null ? "n/a" : `${(v * 100).toFixed(1)}%`;
    reasons.push(
      `${evidently.datasetDrift ? "DRIFT" : "ok"} data: ${evidently.driftedColumns.length} of ` +
        `${Object.keys(evidently.columns).length} columns drifted (${
          pct(evidently.driftedShare)
        }; ` +
        `dataset drift at ${pct(driftShare)})` +
        (evidently.driftedColumns.length > 0
          ? `: ${evidently.driftedColumns.slice(0, 12).join(", ")}`
          : ""),
    );
    reasons.push(
      `${labelDrift ? "DRIFT" : "ok"} labels: window recall ${pct(windowSide.recall)} on ` +
        `${windowSide.heavy} heavy rows vs ${pct(trainingSide.recall)} on the held-out split ` +
        `(drift below −${pct(maxDrop)} with ≥ ${minHeavy} heavy rows)`,
    );
    reasons.push(
      `info heavy rate: window ${pct(windowSide.heavyRate)}, training split ` +
        pct(trainingSide.heavyRate),
    );
    const summaryPath = join(options.out, "drift_summary.json");
    const summary: DriftSummary = {
      verdict: evidently.datasetDrift || labelDrift ? "drift" : "no-drift",
      reasons,
      modelVersion: loaded.version,
      window: { path: options.window, since: options.since ?? null, rows: window.length },
      reference: { path: referencePath, rows: training.length },
      data: evidently,
      labels: { window: windowSide, training: trainingSide, labelDrift },
      files: { html, summary: summaryPath },
    };
    await writeFile(summaryPath, JSON.stringify(summary, null, 1) + "\n");
    return summary;
  } finally {
    await loaded.models.close();
  }
}

/** The models folder's default version (its `DEFAULT` pointer). */
async function defaultModel(modelsDir = "models"): Promise<string> {
  const pointer = await Deno.readTextFile(join(modelsDir, "DEFAULT")).catch(() => "");
  if (!pointer.trim()) throw new Error(`${modelsDir}/DEFAULT is missing; pass --model`);
  return pointer.trim();
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      window: { type: "string" },
      since: { type: "string" },
      model: { type: "string" },
      "models-dir": { type: "string", default: "models" },
      reference: { type: "string" },
      out: { type: "string", default: "reports/drift" },
      "drift-share": { type: "string" },
      "max-recall-drop": { type: "string" },
    },
  });
  if (!values.window) {
    console.error(
      "usage: drift.ts --window <labeled log> [--since ISO] [--model <version|dir>] " +
        "[--reference <training log>] [--out reports/drift] [--drift-share 0.3] " +
        "[--max-recall-drop 0.1]",
    );
    Deno.exit(2);
  }
  const summary = await driftReport({
    window: values.window,
    since: values.since,
    model: values.model,
    modelsDir: values["models-dir"],
    reference: values.reference,
    out: values.out!,
    driftShare: values["drift-share"] ? Number(values["drift-share"]) : undefined,
    maxRecallDrop: values["max-recall-drop"] ? Number(values["max-recall-drop"]) : undefined,
  });
  console.log(`${summary.verdict.toUpperCase()} for ${summary.modelVersion}:`);
  for (const line of summary.reasons) console.log(`  ${line}`);
  console.log(`report ${summary.files.html}; summary ${summary.files.summary}`);
  if (summary.verdict === "drift") Deno.exit(1);
}
