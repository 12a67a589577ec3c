/**
 * Step 1 of training: a query log → the feature matrix Python trains on, computed by the
 * router's own featurizer so training and serving cannot drift apart.
 *
 * ```sh
 * deno run -A training/featurize.ts --log data/query_log.jsonl.gz --labels data/labels.json --out .cache/training/run
 * ```
 *
 * @module
 */

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  categoryValues,
  createFeaturizer,
  FEATURE_SCHEMA_VERSION,
  featureGroup,
  featureNames,
  type FeatureSpec,
  MONOTONE_INCREASING_FEATURES,
} from "../src/features/featurizer.ts";
import { CATEGORY_NAMES, type CategoryName } from "../src/features/context_features.ts";
import {
  type ColumnStatistics,
  TableCatalogBuilder,
  withColumnStatistics,
} from "../src/features/table_catalog.ts";
import { readColumnStatistics } from "./column_stats.ts";
import { pointInTimeHistory } from "./history_replay.ts";
import { referencedTables } from "../src/features/table_references.ts";
import { schemaRuleHeavy } from "./baselines.ts";
import { fitTfidf, type TfidfFitOptions } from "../src/features/tfidf.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import { lex } from "../src/sql/lexer.ts";
import { normalizedTokens } from "../src/sql/normalize.ts";
import {
  type LoadOptions,
  loadQueryLog,
  type LoggedQuery,
  type QueryLog,
  type SplitScheme,
  thresholdsFromJson,
} from "./query_log.ts";

/** How the learned part of the feature layout is fitted. */
export interface SpecFitOptions {
  /** A categorical value becomes a one-hot only if seen in at least this many TRAIN rows. */
  readonly minCategoryCount?: number;
  /** At most this many values per categorical field (the most frequent win). */
  readonly maxCategoryValues?: number;
  readonly tfidf?: TfidfFitOptions;
  /**
   * Fit identity one-hots (user, source, session catalog/schema, table names, client tags).
   * Off by default: on the template-disjoint evaluation they taught the model the generator's
   * users and sessions instead of query cost (see the model report's ablation).
   */
  readonly identity?: boolean;
  /** Fit template-word TF-IDF. Off by default for the same reason. */
  readonly useTfidf?: boolean;
  /**
   * Add the history features (`src/features/history.ts`), replayed point-in-time from the log
   * itself: each row reads the runs that ended before it was submitted.
   */
  readonly history?: boolean;
  /**
   * The cluster's column statistics (`column_stats.ts`): their distinct counts join the table
   * catalog (the join estimate reads them). Absent: the catalog has row counts only.
   */
  readonly columnStatistics?: ColumnStatistics;
}

/** Defaults: no identity one-hots, no TF-IDF (enable them only for ablations). */
export const DEFAULT_SPEC_FIT: Required<Omit<SpecFitOptions, "columnStatistics">> = {
  minCategoryCount: 3,
  maxCategoryValues: 200,
  tfidf: { minDocumentFrequency: 3, maxFeatures: 400 },
  identity: false,
  useTfidf: false,
  history: false,
};

/**
 * Fits category vocabularies, TF-IDF and the table catalog on the given rows (pass train +
 * validation only: fitting on test rows would leak them into the features).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitFeatureSpec } from "./featurize.ts";
 * import { loadQueryLog } from "./query_log.ts";
 * const fixture = new URL("../test/fixtures/query_log_small.jsonl", import.meta.url).pathname;
 * const log = await loadQueryLog(fixture);
 * const spec = fitFeatureSpec(log.rows.filter((r) => r.split !== "test"));
 * assert.ok(spec.tableCatalog.tables.length > 0, "the table catalog learned the log's tables");
 * ```
 */
export function fitFeatureSpec(
  rows: readonly LoggedQuery[],
  options: SpecFitOptions = {},
): FeatureSpec {
  const { minCategoryCount, maxCategoryValues, tfidf, identity, useTfidf, history } = {
    ...DEFAULT_SPEC_FIT,
    ...options,
  };
  const catalog = new TableCatalogBuilder();
  const counts = Object.fromEntries(
    CATEGORY_NAMES.map((field) => [field, new Map<string, number>()]),
  ) as Record<CategoryName, Map<string, number>>;
  const documents: string[][] = [];
  for (const row of rows) {
    catalog.addEvent(row.event);
    const input = eventToQueryInput(row.event);
    const { tokens } = lex(input.sqlText);
    documents.push(normalizedTokens(tokens));
    // Values are collected exactly as the featurizer looks them up (its own rule).
    const values = categoryValues(input, referencedTables(tokens, input));
    for (const field of CATEGORY_NAMES) {
      for (const value of values[field]) {
        if (value === undefined) continue;
        counts[field].set(value, (counts[field].get(value) ?? 0) + 1);
      }
    }
  }
  const categories = Object.fromEntries(CATEGORY_NAMES.map((field) => [
    field,
    [...counts[field]]
      .filter(([, n]) => n >= minCategoryCount)
      .sort(([a, na], [b, nb]) => nb - na || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, identity ? maxCategoryValues : 0)
      .map(([value]) => value)
      .sort(),
  ])) as unknown as FeatureSpec["categories"];
  return {
    schemaVersion: FEATURE_SCHEMA_VERSION,
    categories,
    tfidf: useTfidf ? fitTfidf(documents, tfidf) : { vocabulary: [], idf: [] },
    tableCatalog: options.columnStatistics
      ? withColumnStatistics(catalog.build(), options.columnStatistics)
      : catalog.build(),
    ...(history ? { history: true } : {}),
  };
}

/** File names inside a featurize output folder. */
export const DATASET_FILES = {
  matrix: "features.f32",
  sidecar: "dataset.json",
  spec: "feature_spec.json",
} as const;

/** The sidecar Python reads next to the matrix (columnar: one array per field). */
export interface DatasetSidecar {
  readonly formatVersion: 1;
  readonly featureSchemaVersion: number;
  /** `[rows, features]` of the row-major float32 little-endian matrix. */
  readonly shape: readonly [number, number];
  readonly matrix: string;
  readonly featureNames: readonly string[];
  /** Group of each feature (`featureGroup`), for ablations. */
  readonly featureGroups: readonly string[];
  /** 1 where the model must be monotone increasing (`MONOTONE_INCREASING_FEATURES`), else 0. */
  readonly featureMonotone: readonly (0 | 1)[];
  readonly queryIds: readonly string[];
  readonly labels: readonly (0 | 1)[];
  readonly because: readonly string[];
  /** Split of each row under `splitBy`. */
  readonly splits: readonly string[];
  readonly splitBy: SplitScheme;
  /** Split of each row under every scheme. */
  readonly splitsByScheme: Readonly<Record<SplitScheme, readonly string[]>>;
  readonly families: readonly string[];
  /** The trivial baseline's decision per row (1 = heavy), see `baselines.ts`. */
  readonly schemaRule: readonly (0 | 1)[];
  readonly times: readonly string[];
  readonly cpuSeconds: readonly number[];
  readonly statementKinds: readonly string[];
  readonly users: readonly string[];
  readonly parseOutcomes: readonly string[];
  readonly log: {
    readonly path: string;
    readonly files: readonly string[];
    readonly sha256: string;
    readonly lines: number;
    readonly dropped: QueryLog["dropped"];
  };
  readonly thresholds: QueryLog["thresholds"];
  readonly boundaries: { readonly validStart: string; readonly testStart: string };
  readonly splitCounts: Readonly<Record<string, { rows: number; heavy: number }>>;
}

/** Options of {@linkcode featurizeLog}. */
export interface FeaturizeOptions extends LoadOptions, SpecFitOptions {
  readonly log: string;
  readonly out: string;
}

/** What {@linkcode featurizeLog} wrote. */
export interface FeaturizeResult {
  readonly spec: FeatureSpec;
  readonly sidecar: DatasetSidecar;
  readonly log: QueryLog;
  readonly dir: string;
}

/** Rows per write: keeps memory flat on large logs while keeping writes few. */
const WRITE_BATCH_ROWS = 512;

/**
 * Loads, labels and splits a log, fits the spec on train + validation, featurizes every row with
 * `createFeaturizer(spec)` and writes the matrix, sidecar and spec into `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featurizeLog } from "./featurize.ts";
 * const fixture = new URL("../test/fixtures/query_log_small.jsonl", import.meta.url).pathname;
 * const out = await Deno.makeTempDir();
 * const { sidecar, log } = await featurizeLog({ log: fixture, out });
 * assert.equal(sidecar.shape[0], log.rows.length); // one vector per labelled row
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function featurizeLog(options: FeaturizeOptions): Promise<FeaturizeResult> {
  const log = await loadQueryLog(options.log, options);
  // The spec is fitted on every row the final model is fitted on (train + validation), never
  // on the test split.
  const train = log.rows.filter((r) => r.split !== "test");
  if (train.length === 0) throw new Error(`${options.log}: no labeled rows outside the test split`);
  const spec = fitFeatureSpec(train, options);
  const names = featureNames(spec);
  const featurize = createFeaturizer(spec);
  const history = spec.history ? pointInTimeHistory(log.rows) : undefined;
  await mkdir(options.out, { recursive: true });
  const matrix = await Deno.open(join(options.out, DATASET_FILES.matrix), {
    write: true,
    create: true,
    truncate: true,
  });
  const width = names.length;
  const buffer = new Float32Array(WRITE_BATCH_ROWS * width);
  let filled = 0;
  const flush = async () => {
    const bytes = new Uint8Array(buffer.buffer, 0, filled * width * 4);
    for (let written = 0; written < bytes.length;) {
      written += await matrix.write(bytes.subarray(written));
    }
    filled = 0;
  };
  const parseOutcomes: string[] = [];
  try {
    for (const [i, row] of log.rows.entries()) {
      const f = featurize({ ...eventToQueryInput(row.event), history: history?.[i] });
      if (f.vector.length !== width) throw new Error("featurizer width differs from its spec");
      // Float32Array → bytes is little-endian on every platform Deno ships for (x86-64, arm64).
      buffer.set(f.vector, filled * width);
      parseOutcomes.push(f.parseOutcome);
      if (++filled === WRITE_BATCH_ROWS) await flush();
    }
    await flush();
  } finally {
    matrix.close();
  }
  const splitCounts: Record<string, { rows: number; heavy: number }> = {};
  for (const split of ["train", "valid", "test"] as const) {
    const rows = log.rows.filter((r) => r.split === split);
    splitCounts[split] = { rows: rows.length, heavy: rows.filter((r) => r.heavy).length };
  }
  const sidecar: DatasetSidecar = {
    formatVersion: 1,
    featureSchemaVersion: FEATURE_SCHEMA_VERSION,
    shape: [log.rows.length, width],
    matrix: DATASET_FILES.matrix,
    featureNames: names,
    featureGroups: names.map(featureGroup),
    featureMonotone: names.map((n) => MONOTONE_INCREASING_FEATURES.has(n) ? 1 : 0),
    queryIds: log.rows.map((r) => r.queryId),
    labels: log.rows.map((r) => r.heavy ? 1 : 0),
    because: log.rows.map((r) => r.because),
    splits: log.rows.map((r) => r.split),
    splitBy: log.splitBy,
    splitsByScheme: {
      template: log.rows.map((r) => r.splits.template),
      user: log.rows.map((r) => r.splits.user),
      time: log.rows.map((r) => r.splits.time),
    },
    families: log.rows.map((r) => r.family),
    schemaRule: log.rows.map((r) => schemaRuleHeavy(r.event) ? 1 : 0),
    times: log.rows.map((r) => Number.isFinite(r.time) ? new Date(r.time).toISOString() : ""),
    cpuSeconds: log.rows.map((r) => r.cpuSeconds),
    statementKinds: log.rows.map((r) => r.statementKind),
    users: log.rows.map((r) => r.event.context.user ?? ""),
    parseOutcomes,
    log: {
      path: options.log,
      files: log.files,
      sha256: log.sha256,
      lines: log.lines,
      dropped: log.dropped,
    },
    thresholds: log.thresholds,
    boundaries: {
      validStart: new Date(log.boundaries.validStart).toISOString(),
      testStart: new Date(log.boundaries.testStart).toISOString(),
    },
    splitCounts,
  };
  await writeFile(join(options.out, DATASET_FILES.sidecar), JSON.stringify(sidecar));
  await writeFile(join(options.out, DATASET_FILES.spec), JSON.stringify(spec, null, 1));
  return { spec, sidecar, log, dir: options.out };
}

/** Reads the matrix a featurize run wrote, as one Float32Array (row-major). */
export async function readMatrix(
  dir: string,
): Promise<{ sidecar: DatasetSidecar; data: Float32Array }> {
  const sidecar = JSON.parse(
    await Deno.readTextFile(join(dir, DATASET_FILES.sidecar)),
  ) as DatasetSidecar;
  const bytes = await Deno.readFile(join(dir, sidecar.matrix));
  return { sidecar, data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) };
}

/**
 * CLI flags shared by the training commands: label thresholds and split boundaries from a
 * `labels.json` (its `split.validStart/testStart`), overridden by `--valid-start/--test-start`.
 */
export async function loadOptionsFromFlags(values: {
  labels?: string;
  "valid-start"?: string;
  "test-start"?: string;
  "split-by"?: string;
  "auto-time-split"?: boolean;
}): Promise<LoadOptions> {
  const splitBy = values["split-by"];
  if (splitBy !== undefined && !["time", "template", "user"].includes(splitBy)) {
    throw new Error(`--split-by must be time, template or user, not ${splitBy}`);
  }
  const labels = values.labels
    ? JSON.parse(await Deno.readTextFile(values.labels)) as {
      split?: { validStart?: number | string; testStart?: number | string };
    }
    : undefined;
  const thresholds = labels ? thresholdsFromJson(labels) : undefined;
  const time = (s?: string) => {
    if (s === undefined) return undefined;
    const t = Date.parse(s);
    if (!Number.isFinite(t)) throw new Error(`not an ISO-8601 time: ${s}`);
    return t;
  };
  // The data's own split (labels.json `split`, epoch ms or ISO) unless flags override it.
  // `--auto-time-split`: the labels file's boundaries belong to another log (e.g. several logs
  // trained together); cut 70/15/15 of this log's own time order instead.
  const given = (v?: number | string) =>
    values["auto-time-split"] ? undefined : typeof v === "number" ? v : time(v);
  return {
    thresholds,
    splitBy: splitBy as SplitScheme | undefined,
    boundaries: {
      validStart: time(values["valid-start"]) ?? given(labels?.split?.validStart),
      testStart: time(values["test-start"]) ?? given(labels?.split?.testStart),
    },
  };
}

/**
 * The command's arguments without the `--` that `deno task train -- --log …` passes through
 * (node's `parseArgs` would read everything after it as positionals).
 */
export function cliArgs(args: readonly string[] = Deno.args): string[] {
  return args[0] === "--" ? args.slice(1) : [...args];
}

/** Flags every command reading a log accepts (for `parseArgs`). */
export const LOG_FLAGS = {
  log: { type: "string" },
  labels: { type: "string" },
  "valid-start": { type: "string" },
  "test-start": { type: "string" },
  /** time | template | user: which partition is the split (training uses template). */
  "split-by": { type: "string" },
  /** Ignore the labels file's time boundaries (use 70/15/15 of the log's own time order). */
  "auto-time-split": { type: "boolean" },
} as const;

if (import.meta.main) {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      ...LOG_FLAGS,
      out: { type: "string" },
      identity: { type: "boolean", default: false },
      tfidf: { type: "boolean", default: false },
      history: { type: "boolean", default: false },
      "column-stats": { type: "string" },
    },
  });
  if (!values.log || !values.out) {
    console.error(
      "usage: featurize.ts --log <log.jsonl[.gz]> --out <dir> [--labels labels.json] " +
        "[--valid-start ISO --test-start ISO] [--history] [--column-stats data/column_stats.json]",
    );
    Deno.exit(2);
  }
  const started = performance.now();
  const { sidecar } = await featurizeLog({
    log: values.log,
    out: values.out,
    ...await loadOptionsFromFlags(values),
    identity: values.identity,
    useTfidf: values.tfidf,
    history: values.history,
    columnStatistics: values["column-stats"]
      ? await readColumnStatistics(values["column-stats"])
      : undefined,
  });
  console.log(
    `featurized ${sidecar.shape[0]} rows x ${sidecar.shape[1]} features into ${values.out} ` +
      `in ${((performance.now() - started) / 1000).toFixed(1)} s; splits ${
        JSON.stringify(sidecar.splitCounts)
      }; dropped ${JSON.stringify(sidecar.log.dropped)}`,
  );
}
