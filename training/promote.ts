/**
 * Champion vs challenger: replays both (and both baselines) on the same held-out split — the
 * challenger's own split, template-disjoint for bundles trained by `train.ts` — and makes the
 * challenger the service's default (`models/DEFAULT`) only if it meets the recall gate, is not
 * worse on the danger cost (CPU-seconds of heavy queries sent to Small) and beats both baselines.
 *
 * ```sh
 * deno run -A training/promote.ts --log data/query_log.jsonl.gz --challenger <version> [--champion <version>]
 * ```
 *
 * @module
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadModelSet } from "../src/model/model_set.ts";
import { DEFAULT_POINTER_FILE, directoryModelSource } from "../src/model/model_source.ts";
import { cliArgs, loadOptionsFromFlags, LOG_FLAGS } from "./featurize.ts";
import type { LoadOptions, SplitName } from "./query_log.ts";
import { loadQueryLog } from "./query_log.ts";
import {
  loadModel,
  loadOptionsOfManifest,
  replay,
  type ReplayReport,
  replayReport,
} from "./replay.ts";
import { replaySchemaRule, SCHEMA_RULE_NAME } from "./baselines.ts";
import { HEURISTIC_VERSION } from "../src/model/heuristic.ts";

/** The rows of one split, loaded exactly as `replay` loads them. */
async function splitRows(options: LoadOptions & { log: string; split: SplitName }) {
  const log = await loadQueryLog(options.log, options);
  return log.rows.filter((r) => r.split === options.split);
}
import { CHAMPION_ALIAS } from "../src/model/mlflow_client.ts";
import {
  applyRegistryPromotion,
  downloadAliasedBundle,
  type MlflowTarget,
  mlflowTargetFromEnv,
} from "./mlflow_log.ts";

/** Thresholds of the promotion gate. */
export interface GateOptions {
  /** Minimum heavy recall of the challenger on the rows the model decides (design: FNR ≤ 1%). */
  readonly minRecall?: number;
  /** Allowed relative increase of danger CPU-seconds over the champion's (0 = not worse). */
  readonly dangerTolerance?: number;
}

/** Default gate: heavy recall ≥ 0.99 (FNR ≤ 1%), danger cost not above the champion's. */
export const DEFAULT_GATE: Required<GateOptions> = { minRecall: 0.99, dangerTolerance: 0 };

/** The gate's answer and every reason behind it. */
export interface GateVerdict {
  readonly promote: boolean;
  /** One line per criterion, each saying whether it passed. */
  readonly reasons: readonly string[];
}

/**
 * Decides whether a challenger may replace the champion. All reports must come from the same
 * log and split. Every baseline (the design heuristic, the trivial schema rule) must be beaten:
 * no more heavy CPU-seconds on Small than the baseline and strictly better on either those or the
 * FPR (a model that only matches a one-line rule has no reason to exist).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { promotionGate } from "./promote.ts";
 * const confusion = { truePositive: 0, falseNegative: 1, falsePositive: 0, trueNegative: 1 };
 * const s = { rows: 2, heavy: 1, confusion, recall: 0, fnr: 1,
 *   fpr: 0, precision: null, aucPr: null, heavyCpuSecondsOnSmall: 500, lightCpuSecondsOnLarge: 0 };
 * const report = { ...s, version: "v", split: "test" as const, modelDecided: s,
 *   byStatementKind: {}, byUser: {}, byReason: {} };
 * assert(!promotionGate(report, report).promote);
 * ```
 */
export function promotionGate(
  champion: ReplayReport,
  challenger: ReplayReport,
  options: GateOptions = {},
  baselines: readonly ReplayReport[] = [],
): GateVerdict {
  // `??` rather than a spread: CLI flags arrive as explicit `undefined`s.
  const minRecall = options.minRecall ?? DEFAULT_GATE.minRecall;
  const dangerTolerance = options.dangerTolerance ?? DEFAULT_GATE.dangerTolerance;
  const reasons: string[] = [];
  let ok = true;
  const recall = challenger.modelDecided.recall;
  if (recall === null) {
    ok = false;
    reasons.push(
      `FAIL recall: the ${challenger.split} split has no heavy query the model decides; ` +
        "replay on a split (or log) that has some",
    );
  } else if (recall < minRecall) {
    ok = false;
    reasons.push(
      `FAIL recall: challenger heavy recall ${fmt(recall)} (FNR ${fmt(1 - recall)}) is below ` +
        `the gate ${
          fmt(minRecall)
        }; ${challenger.modelDecided.confusion.falseNegative} heavy queries would ` +
        "run on Small — lower its threshold or retrain",
    );
  } else {
    reasons.push(`pass recall: ${fmt(recall)} ≥ ${fmt(minRecall)}`);
  }
  const danger = challenger.heavyCpuSecondsOnSmall;
  const limit = champion.heavyCpuSecondsOnSmall * (1 + dangerTolerance);
  if (danger > limit + 1e-9) {
    ok = false;
    reasons.push(
      `FAIL danger: challenger sends ${danger.toFixed(1)} heavy CPU-s to Small, champion ` +
        `${champion.version} ${champion.heavyCpuSecondsOnSmall.toFixed(1)} (limit ${
          limit.toFixed(1)
        })`,
    );
  } else {
    reasons.push(
      `pass danger: ${danger.toFixed(1)} heavy CPU-s on Small ≤ champion's ` +
        `${champion.heavyCpuSecondsOnSmall.toFixed(1)}`,
    );
  }
  for (const baseline of baselines) {
    const mine = { danger: challenger.heavyCpuSecondsOnSmall, fpr: challenger.fpr ?? 1 };
    const theirs = { danger: baseline.heavyCpuSecondsOnSmall, fpr: baseline.fpr ?? 1 };
    const beats = mine.danger <= theirs.danger + 1e-9 &&
      (mine.danger < theirs.danger - 1e-9 || mine.fpr < theirs.fpr);
    if (!beats) ok = false;
    reasons.push(
      `${beats ? "pass" : "FAIL"} baseline ${baseline.version}: challenger ${
        mine.danger.toFixed(1)
      } heavy CPU-s on Small, FPR ${fmt(mine.fpr)}; baseline ${theirs.danger.toFixed(1)}, FPR ${
        fmt(theirs.fpr)
      }`,
    );
  }
  reasons.push(
    `info waste: light CPU-s on Large ${challenger.lightCpuSecondsOnLarge.toFixed(1)} ` +
      `(champion ${champion.lightCpuSecondsOnLarge.toFixed(1)}); FPR ${fmt(challenger.fpr)} ` +
      `(champion ${fmt(champion.fpr)})`,
  );
  return { promote: ok, reasons };
}

const fmt = (v: number | null) => v === null ? "n/a" : v.toFixed(4);

/** Options of {@linkcode promote}. */
export interface PromoteOptions extends GateOptions, LoadOptions {
  readonly log: string;
  readonly challenger: string;
  /** Default: the models folder's current default (its `DEFAULT` file, else its fallback). */
  readonly champion?: string;
  readonly modelsDir?: string;
  readonly split?: SplitName;
  /**
   * Require beating the heuristic and the schema rule (default true). Turning it off is for
   * tests and for promoting a baseline-class model on purpose, never for a trained model.
   */
  readonly baselines?: boolean;
  /** Evaluate only; never write `DEFAULT` or move a registry alias. */
  readonly dryRun?: boolean;
  /**
   * Promote in the MLflow registry instead of the folder: the champion defaults to the
   * `champion` alias's bundle, and promotion moves aliases (`DEFAULT` is left alone).
   */
  readonly mlflow?: MlflowTarget;
}

/** What {@linkcode promote} found and did. */
export interface PromoteResult {
  readonly verdict: GateVerdict;
  readonly champion: ReplayReport;
  readonly challenger: ReplayReport;
  readonly promoted: boolean;
  /** The registry version whose aliases moved (MLflow only). */
  readonly registeredVersion?: string;
}

/**
 * Replays champion and challenger on the challenger's held-out split (its label thresholds and
 * time boundaries, so both see exactly the same rows) and, when the gate passes, writes the
 * challenger's version to `<modelsDir>/DEFAULT` (with `mlflow`: moves the registry aliases).
 */
export async function promote(options: PromoteOptions): Promise<PromoteResult> {
  const challengerModel = await loadModel(options.challenger, options.modelsDir ?? "models");
  const challengerVersion = challengerModel.version;
  const own = loadOptionsOfManifest(challengerModel.models.get(challengerVersion).manifest);
  await challengerModel.models.close();
  let championVersion = options.champion;
  const registryDir = options.mlflow && championVersion === undefined
    ? await mkdtemp(join(tmpdir(), "promote-champion-"))
    : undefined;
  try {
    if (registryDir) {
      const version = await downloadAliasedBundle(options.mlflow!, CHAMPION_ALIAS, registryDir);
      if (version) championVersion = join(registryDir, version);
    }
    return await gateAndPromote(options, championVersion, challengerVersion, own);
  } finally {
    if (registryDir) await rm(registryDir, { recursive: true, force: true });
  }
}

async function gateAndPromote(
  options: PromoteOptions,
  championChoice: string | undefined,
  challengerVersion: string,
  own: LoadOptions,
): Promise<PromoteResult> {
  const modelsDir = options.modelsDir ?? "models";
  const split = options.split ?? "test";
  let championVersion = championChoice;
  if (championVersion === undefined) {
    const installed = await loadModelSet(directoryModelSource(modelsDir));
    await installed.close();
    championVersion = installed.defaultVersion;
  }
  const shared = {
    log: options.log,
    modelsDir,
    split,
    thresholds: options.thresholds ?? own.thresholds,
    splitBy: options.splitBy ?? own.splitBy,
    boundaries: {
      ...own.boundaries,
      ...Object.fromEntries(
        Object.entries(options.boundaries ?? {}).filter(([, v]) => v !== undefined),
      ),
    },
  };
  const champion = (await replay({ ...shared, model: championVersion })).report;
  const challenger = (await replay({ ...shared, model: options.challenger })).report;
  const baselines = options.baselines === false ? [] : [
    (await replay({ ...shared, model: HEURISTIC_VERSION })).report,
    replayReport(SCHEMA_RULE_NAME, split, replaySchemaRule(await splitRows(shared))),
  ];
  const verdict = promotionGate(champion, challenger, options, baselines);
  let promoted = false;
  if (options.mlflow && !options.dryRun) {
    const registered = await applyRegistryPromotion(
      options.mlflow,
      challengerVersion,
      verdict.promote,
    );
    return {
      verdict,
      champion,
      challenger,
      promoted: verdict.promote,
      registeredVersion: registered.version,
    };
  }
  if (verdict.promote && !options.dryRun) {
    const installed = await loadModelSet(directoryModelSource(modelsDir));
    await installed.close();
    if (!installed.versions.includes(challengerVersion)) {
      throw new Error(
        `challenger ${challengerVersion} passed the gate but is not a bundle of ${modelsDir}; ` +
          `copy it to ${join(modelsDir, challengerVersion)} and promote again`,
      );
    }
    await writeFile(join(modelsDir, DEFAULT_POINTER_FILE), challengerVersion + "\n");
    promoted = true;
  }
  return { verdict, champion, challenger, promoted };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      ...LOG_FLAGS,
      challenger: { type: "string" },
      champion: { type: "string" },
      "models-dir": { type: "string", default: "models" },
      split: { type: "string", default: "test" },
      "min-recall": { type: "string" },
      "danger-tolerance": { type: "string" },
      "dry-run": { type: "boolean", default: false },
    },
  });
  if (!values.log || !values.challenger) {
    console.error(
      "usage: promote.ts --log <log> --challenger <version|dir> [--champion <version>] " +
        "[--min-recall 0.99] [--danger-tolerance 0] [--split test] [--dry-run]",
    );
    Deno.exit(2);
  }
  const flags = await loadOptionsFromFlags(values);
  const result = await promote({
    log: values.log,
    challenger: values.challenger,
    champion: values.champion,
    modelsDir: values["models-dir"],
    split: values.split as SplitName,
    minRecall: values["min-recall"] ? Number(values["min-recall"]) : undefined,
    dangerTolerance: values["danger-tolerance"] ? Number(values["danger-tolerance"]) : undefined,
    dryRun: values["dry-run"],
    thresholds: flags.thresholds,
    boundaries: flags.boundaries,
    mlflow: mlflowTargetFromEnv(),
  });
  console.log(
    `champion ${result.champion.version} vs challenger ${result.challenger.version} on the ` +
      `${result.challenger.split} split (${result.challenger.rows} rows):`,
  );
  for (const line of result.verdict.reasons) console.log(`  ${line}`);
  const registry = result.registeredVersion === undefined
    ? undefined
    : `registered version ${result.registeredVersion}`;
  if (!result.verdict.promote) {
    console.error(
      registry
        ? `REFUSED: ${result.challenger.version} (${registry}) is aliased "challenger" only.`
        : `REFUSED: ${result.challenger.version} is not promoted; DEFAULT is unchanged.`,
    );
    Deno.exit(1);
  }
  console.log(
    registry
      ? `PROMOTED: alias "champion" now points at ${registry} (${result.challenger.version})`
      : result.promoted
      ? `PROMOTED: ${values["models-dir"]}/DEFAULT now names ${result.challenger.version}`
      : "gate passed (dry run: DEFAULT unchanged)",
  );
}
