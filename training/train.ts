/**
 * The whole training pipeline as one command: featurize (Deno) → train + export (Python) →
 * validate the bundle → replay it through the router with the Deno-side parity check.
 *
 * ```sh
 * deno run -A training/train.ts --log data/query_log.jsonl.gz --labels data/labels.json [--out models/<version>]
 * ```
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { validateManifest } from "../src/model/manifest.ts";
import { sealBundle } from "./bundle_integrity.ts";
import { readColumnStatistics } from "./column_stats.ts";
import { ANALYST_FIXTURE, evaluateFixture, formatFixtureEvaluation } from "./fixture_eval.ts";
import { cliArgs, featurizeLog, loadOptionsFromFlags, LOG_FLAGS, readMatrix } from "./featurize.ts";
import { nodeMeans, pathContributions, readTreeEnsemble } from "../src/model/tree_ensemble.ts";
import { createFeaturizer, type FeatureSpec } from "../src/features/featurizer.ts";
import { tableReferences } from "../src/features/table_references.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import { lex } from "../src/sql/lexer.ts";
import type { LoggedQuery } from "./query_log.ts";
import { fitDriftReference } from "../src/model/feature_drift.ts";
import type { SplitScheme } from "./query_log.ts";
import { formatReport, PARITY_TOLERANCE, replay } from "./replay.ts";
import {
  type LoggedRun,
  logTrainingRun,
  type MlflowTarget,
  mlflowTargetFromEnv,
} from "./mlflow_log.ts";

const here = new URL(".", import.meta.url).pathname;

/** Runs a command, streaming its stderr; returns stdout. Throws on a non-zero exit. */
async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "inherit" }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} exited with ${out.code}`);
  return new TextDecoder().decode(out.stdout);
}

/** Options of {@linkcode train}. */
export interface TrainOptions {
  readonly log: string;
  /** Bundle folder; its name becomes the version. Default: `<modelsDir>/<date>-xgb-<hash>`. */
  readonly out?: string;
  readonly modelsDir?: string;
  /** Where the feature matrix goes (default `.cache/training/<log sha256 prefix>`). */
  readonly workDir?: string;
  readonly labels?: string;
  readonly validStart?: string;
  readonly testStart?: string;
  readonly targetRecall?: number;
  /** Partition of the headline evaluation (default `template`: whole families held out). */
  readonly splitBy?: SplitScheme;
  /** Cut the time split 70/15/15 of the log's own order, whatever the labels file says. */
  readonly autoTimeSplit?: boolean;
  /** Feature groups the model may not use (ablation), e.g. `["cst"]`. */
  readonly dropGroups?: readonly string[];
  /** Fit identity one-hots / TF-IDF too (off by default; see `SpecFitOptions`). */
  readonly identity?: boolean;
  readonly tfidf?: boolean;
  /** Add the history features, replayed point-in-time from the log (`SpecFitOptions.history`). */
  readonly history?: boolean;
  /** Column statistics file (`column_stats.ts`) whose distinct counts join the table catalog. */
  readonly columnStats?: string;
  /** Measured hand-written queries reported (never trained on); default `ANALYST_FIXTURE`. */
  readonly analystFixture?: string;
  /** Print progress lines (the CLI does; tests do not). */
  readonly verbose?: boolean;
  /** Log the run to MLflow and register the bundle (the CLI: when `MLFLOW_TRACKING_URI` is set). */
  readonly mlflow?: MlflowTarget;
}

/** What a training run produced. */
export interface TrainResult {
  readonly bundleDir: string;
  readonly version: string;
  readonly seconds: Readonly<Record<string, number>>;
  /** The MLflow run and registered version, when MLflow was configured. */
  readonly registered?: LoggedRun;
}

/**
 * Runs the pipeline end to end and leaves a validated bundle whose manifest carries test-split
 * metrics, the router replay and both parity checks. Fails (throws) if parity fails.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const say = (s: string) => options.verbose && console.log(s);
  const seconds: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    seconds[name] = Math.round(now - t) / 1000;
    t = now;
  };
  const loadOptions = await loadOptionsFromFlags({
    labels: options.labels,
    "valid-start": options.validStart,
    "test-start": options.testStart,
    "split-by": options.splitBy ?? "template",
    "auto-time-split": options.autoTimeSplit,
  });
  const workDir = options.workDir ?? join(".cache", "training", "last-run");
  const { sidecar, log, spec } = await featurizeLog({
    log: options.log,
    out: workDir,
    ...loadOptions,
    identity: options.identity,
    useTfidf: options.tfidf,
    history: options.history,
    columnStatistics: options.columnStats
      ? await readColumnStatistics(options.columnStats)
      : undefined,
  });
  lap("featurize");
  const sessionIndependence = checkSessionIndependence(log.rows, spec);
  if (sessionIndependence.mismatches > 0) {
    throw new Error(`session schema changed a vector: ${JSON.stringify(sessionIndependence)}`);
  }
  say(
    `featurized ${sidecar.shape.join(" x ")} → ${workDir}; splits ${
      JSON.stringify(sidecar.splitCounts)
    }`,
  );

  await run("bash", [join(here, "setup_venv.sh")]);
  lap("venv");
  const python = join(here, ".venv", "bin", "python");
  const args = [join(here, "train.py"), "--data", workDir];
  if (options.out) args.push("--out", options.out);
  else args.push("--models-dir", options.modelsDir ?? "models");
  if (options.dropGroups?.length) args.push("--drop-groups", options.dropGroups.join(","));
  if (options.targetRecall !== undefined) {
    args.push("--target-recall", String(options.targetRecall));
  }
  const summary = JSON.parse((await run(python, args)).trim().split("\n").at(-1)!) as {
    bundle: string;
    version: string;
  };
  lap("python");
  say(`python: ${JSON.stringify(summary)}`);

  const bundleDir = summary.bundle;
  // The router refuses unsealed bundles, the replay below included; sealed again at the end,
  // once every file of the bundle is final.
  await sealBundle(bundleDir);
  const manifestPath = join(bundleDir, "manifest.json");
  const manifest = validateManifest(JSON.parse(await readFile(manifestPath, "utf8")), bundleDir);
  const { report, parity } = await replay({ log: options.log, model: bundleDir, split: "test" });
  lap("replay");
  if (!parity || parity.maxAbsDiffRaw > PARITY_TOLERANCE || parity.decisionMismatches > 0) {
    throw new Error(`Deno parity check failed for ${bundleDir}: ${JSON.stringify(parity)}`);
  }
  const explainParity = await checkExplanations(bundleDir, workDir);
  if (explainParity.maxAbsDiff > EXPLAIN_TOLERANCE) {
    throw new Error(
      `explanations differ from XGBoost's approx contributions: ${JSON.stringify(explainParity)}`,
    );
  }
  lap("explain-check");
  const heuristic = await replay({
    log: options.log,
    model: "heuristic-v1",
    // A folder with no bundles: only the built-in heuristic loads, whatever models/ holds.
    modelsDir: join(bundleDir, "no-bundles-here"),
    split: "test",
    ...loadOptions,
    // The heuristic has no split of its own: replay it on exactly the model's test rows.
    boundaries: {
      validStart: Date.parse(sidecar.boundaries.validStart),
      testStart: Date.parse(sidecar.boundaries.testStart),
    },
    thresholds: sidecar.thresholds,
  });
  lap("replay-heuristic");
  const analyst = await evaluateFixture(bundleDir, options.analystFixture ?? ANALYST_FIXTURE);
  lap("analyst-fixture");
  const metrics = {
    ...manifest.metrics,
    replay: { model: withoutBreakdowns(report), heuristic: withoutBreakdowns(heuristic.report) },
    analyst: { model: analyst.model, byScale: analyst.byScale, schemaRule: analyst.schemaRule },
    parity: {
      ...(manifest.metrics?.parity as object),
      onnxruntimeWebVsNative: parity,
      explainVsXgboostApproxContribs: explainParity,
    },
    sessionIndependence,
  };
  const libraries = {
    ...manifest.libraries,
    deno: Deno.version.deno,
    "onnxruntime-web": await packageVersion("onnxruntime-web"),
  };
  // The online PSI's reference: the training split's distribution of a few dense features.
  const matrix = await readMatrix(workDir);
  const trainRows = matrix.sidecar.splits.flatMap((split, i) => split === "train" ? [i] : []);
  const driftReference = fitDriftReference(matrix.sidecar.featureNames, matrix.data, trainRows);
  const updated = { ...manifest, metrics, libraries, driftReference };
  validateManifest(updated, bundleDir);
  await writeFile(manifestPath, JSON.stringify(updated, null, 1) + "\n");
  const reportPath = join(bundleDir, "report.md");
  await writeFile(
    reportPath,
    (await readFile(reportPath, "utf8")) +
      "\n## Session independence and explanations\n\n" +
      `${sessionIndependence.rows} sampled queries whose tables are all fully qualified, ` +
      "featurized under session schema `tiny`, `sf1` and none: " +
      `${sessionIndependence.mismatches} vectors differ (bit for bit). Explanations (router, ` +
      "from the ONNX trees) vs XGBoost `pred_contribs(approx_contribs=True)` on " +
      `${explainParity.rows} test rows: max |Δ| = ${explainParity.maxAbsDiff.toExponential(2)}.\n` +
      "\n## Analyst queries (hand-written, measured on real Trino, never trained on)\n\n" +
      formatFixtureEvaluation(analyst) + "\n" +
      "\n## Offline replay through the router\n\n" + formatReport(report, parity) + "\n\n" +
      formatReport(heuristic.report) + "\n",
  );
  await sealBundle(bundleDir);
  let registered: LoggedRun | undefined;
  if (options.mlflow) {
    // The sealed manifest (checksums, parity samples) is the one the registry must hold.
    const sealed = validateManifest(JSON.parse(await readFile(manifestPath, "utf8")), bundleDir);
    registered = await logTrainingRun(options.mlflow, bundleDir, sealed, {
      log: options.log,
      labels: options.labels,
      valid_start: options.validStart,
      test_start: options.testStart,
      target_recall: options.targetRecall,
    });
    lap("mlflow");
    say(`mlflow: run ${registered.runId}, registered version ${registered.registeredVersion}`);
  }
  return { bundleDir, version: manifest.version, seconds, registered };
}

/** Rows checked by {@linkcode checkSessionIndependence} (evenly spread over the log). */
const SESSION_CHECK_ROWS = 2_000;

/**
 * "A query naming sf1 tables is never classified by the session's schema": every sampled row
 * whose table references are all fully qualified is featurized under session schemas `tiny`,
 * `sf1` and none; the vectors must be identical bit for bit.
 */
function checkSessionIndependence(
  rows: readonly LoggedQuery[],
  spec: FeatureSpec,
): { rows: number; mismatches: number } {
  const featurize = createFeaturizer(spec);
  const step = Math.max(1, Math.floor(rows.length / SESSION_CHECK_ROWS));
  let checked = 0;
  let mismatches = 0;
  for (let i = 0; i < rows.length; i += step) {
    const input = eventToQueryInput(rows[i].event);
    const refs = tableReferences(lex(input.sqlText).tokens, {});
    if (refs.references.length === 0 || refs.references.some((t) => t.startsWith("."))) continue;
    const bits = (schema: string | undefined) => {
      const v = featurize({ ...input, schema }).vector;
      return new Uint32Array(v.buffer, v.byteOffset, v.length).join(",");
    };
    const reference = bits("tiny");
    if (bits("sf1") !== reference || bits(undefined) !== reference) mismatches++;
    checked++;
  }
  return { rows: checked, mismatches };
}

/** Largest |router − XGBoost| contribution accepted (float32 leaves summed in float64). */
const EXPLAIN_TOLERANCE = 1e-4;

/**
 * The router's tree-path contributions (decoded from the bundle's ONNX graph and covers) against
 * XGBoost's `pred_contribs(approx_contribs=True)` on the rows train.py sampled, every feature and
 * the bias compared.
 */
async function checkExplanations(
  bundleDir: string,
  workDir: string,
): Promise<{ rows: number; maxAbsDiff: number }> {
  const manifest = validateManifest(
    JSON.parse(await readFile(join(bundleDir, "manifest.json"), "utf8")),
    bundleDir,
  );
  const expected = JSON.parse(await readFile(join(workDir, "explain_check.json"), "utf8")) as {
    queryIds: string[];
    contribs: number[][];
  };
  const ensemble = readTreeEnsemble(await readFile(join(bundleDir, manifest.onnx!.file)));
  const covers = JSON.parse(await readFile(join(bundleDir, manifest.explain!.covers), "utf8"));
  const means = nodeMeans(ensemble, covers.covers);
  const { sidecar, data } = await readMatrix(workDir);
  const width = sidecar.shape[1];
  const rowOf = new Map(sidecar.queryIds.map((id, i) => [id, i]));
  let maxAbsDiff = 0;
  expected.queryIds.forEach((id, k) => {
    const i = rowOf.get(id)!;
    const vector = data.subarray(i * width, (i + 1) * width);
    const mine = pathContributions(ensemble, means, vector);
    expected.contribs[k].forEach((c, j) => {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(c - mine[j]));
    });
  });
  return { rows: expected.queryIds.length, maxAbsDiff };
}

function withoutBreakdowns<T extends { byUser: unknown }>(r: T): Omit<T, "byUser"> {
  const { byUser: _byUser, ...rest } = r;
  return rest;
}

async function packageVersion(name: string): Promise<string> {
  const text = await readFile(join("node_modules", name, "package.json"), "utf8").catch(() => "{}");
  return (JSON.parse(text) as { version?: string }).version ?? "unknown";
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      ...LOG_FLAGS,
      out: { type: "string" },
      "models-dir": { type: "string", default: "models" },
      "work-dir": { type: "string" },
      "target-recall": { type: "string" },
      "drop-groups": { type: "string" },
      identity: { type: "boolean", default: false },
      tfidf: { type: "boolean", default: false },
      history: { type: "boolean", default: false },
      "column-stats": { type: "string" },
    },
  });
  if (!values.log) {
    console.error(
      "usage: train.ts --log <log.jsonl[.gz]> [--labels labels.json] [--out models/<version>] " +
        "[--valid-start ISO --test-start ISO] [--split-by template|user|time] " +
        "[--target-recall 0.995] [--drop-groups cst,time] [--identity] [--tfidf] [--history] " +
        "[--column-stats data/column_stats.json]",
    );
    Deno.exit(2);
  }
  const result = await train({
    log: values.log,
    out: values.out,
    modelsDir: values["models-dir"],
    workDir: values["work-dir"],
    labels: values.labels,
    validStart: values["valid-start"],
    testStart: values["test-start"],
    targetRecall: values["target-recall"] ? Number(values["target-recall"]) : undefined,
    splitBy: values["split-by"] as SplitScheme | undefined,
    autoTimeSplit: values["auto-time-split"],
    dropGroups: values["drop-groups"]?.split(",").filter(Boolean),
    identity: values.identity,
    tfidf: values.tfidf,
    history: values.history,
    columnStats: values["column-stats"],
    verbose: true,
    mlflow: mlflowTargetFromEnv(),
  });
  console.log(
    `bundle ${result.bundleDir} (version ${result.version}); seconds ${
      JSON.stringify(result.seconds)
    }\n` +
      `see ${join(result.bundleDir, "report.md")}; promote with ` +
      `deno run -A training/promote.ts --log ${values.log} --challenger ${result.version}`,
  );
}
