/**
 * History features (the design's v2): what earlier, completed runs of the same template, and
 * of the same user, cost. One module holds the whole rule — the keys, what a completion event
 * adds, how the counts are stored, and the features read from them — so the feedback loop that
 * keeps the counts online and the training replay that rebuilds them point-in-time (only events
 * that ended before the query was submitted) are the same code.
 *
 * A template here is the literal-free template **plus the tables it resolves to**: the same SQL
 * run against `tiny` and against `sf1` are two templates with two histories. Counts are
 * quantised (CPU seconds and peak memory in quarter-decade bins), so a history is a small,
 * bounded record of integers that adds up the same in any order, on any replica.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { lex } from "../sql/lexer.ts";
import { queryTemplate, templateFingerprint } from "../sql/normalize.ts";
import { durationSeconds, type QueryCompletedEvent } from "../labels/query_event.ts";
import type { QueryContext } from "./context_features.ts";
import { tableReferences } from "./table_references.ts";
import { LruCache } from "../lru_cache.ts";

/** Names of the history features, in vector order. */
export const HISTORY_FEATURE_NAMES = [
  "hist_template_runs_log",
  "hist_template_heavy_rate",
  "hist_template_cpu_p50_log",
  "hist_template_cpu_p90_log",
  "hist_template_memory_p90_log",
  "hist_user_runs_log",
  "hist_user_heavy_rate",
] as const;

/** One history feature name. */
export type HistoryFeatureName = typeof HISTORY_FEATURE_NAMES[number];

/** Value of a feature that has no history to read (no earlier run): below every real value. */
export const NO_HISTORY = -9;

/** CPU bins: quarter decades of seconds from 1 ms (bin 0 holds everything below) to 1,000 s. */
const CPU_BINS = 24;
const CPU_LOG_FLOOR = -3;
/** Memory bins: quarter decades of bytes from 10 kB (bin 0 and below) to 100 GB. */
const MEMORY_BINS = 28;
const MEMORY_LOG_FLOOR = 4;
const BINS_PER_DECADE = 4;

/** Counts of earlier runs under one key (a template or a user). */
export interface HistoryCounts {
  /** Completed runs. */
  readonly runs: number;
  /** Of which heavy (the label rule's verdict). */
  readonly heavy: number;
  /** Runs per CPU-seconds bin (templates only; empty for users). */
  readonly cpu: readonly number[];
  /** Runs per peak-memory bin (templates only; empty for users). */
  readonly memory: readonly number[];
}

/** What a decision reads of the history: the query's template and its user, when known. */
export interface HistorySnapshot {
  /** Earlier runs of the query's template (literal-free template and resolved tables). */
  readonly template?: HistoryCounts;
  /** Earlier runs of the query's user. */
  readonly user?: HistoryCounts;
  /**
   * The history epoch the counts were read in (stores with epochs: every replica in the same
   * epoch reads the same counts); absent without epochs.
   */
  readonly epoch?: number;
}

/** The store keys of one query's history. */
export interface HistoryKeys {
  /** `t:<digest of the template fingerprint and resolved tables>`. */
  readonly template: string;
  /** `u:<digest of the user>`; `undefined` without a user. */
  readonly user?: string;
}

const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 24);

/**
 * The history keys of a query from its template fingerprint, the tables it resolves to and its
 * user (digests: a key never carries SQL or a user name into the store).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyKeys } from "./history.ts";
 * const tiny = historyKeys("fp1", ["tpch.tiny.orders"], "alice");
 * const sf1 = historyKeys("fp1", ["tpch.sf1.orders"], "alice");
 * assert.notEqual(tiny.template, sf1.template);
 * assert.equal(tiny.user, sf1.user);
 * ```
 */
export function historyKeys(
  fingerprint: string,
  tables: readonly string[],
  user: string | undefined,
): HistoryKeys {
  return {
    template: `t:${digest(`${fingerprint}\0${tables.join(",")}`)}`,
    user: user === undefined || user === "" ? undefined : `u:${digest(user)}`,
  };
}

/**
 * The history keys of a query as the router and the feedback loop see it: its template
 * fingerprint (the template cache's), the tables it resolves to (the featurizer's rule) and its
 * user.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queryHistoryKeys } from "./history.ts";
 * const a = queryHistoryKeys({ sqlText: "SELECT * FROM orders WHERE k = 1", schema: "tiny", catalog: "tpch" });
 * const b = queryHistoryKeys({ sqlText: "select * from tpch.tiny.orders where k = 2" });
 * const c = queryHistoryKeys({ sqlText: "SELECT * FROM orders WHERE k = 1", schema: "sf1", catalog: "tpch" });
 * assert.notEqual(a.template, c.template);
 * assert.equal(a.user, undefined);
 * assert.notEqual(a.template, b.template); // another template text, though the same table
 * ```
 */
export function queryHistoryKeys(
  input: Pick<QueryContext, "user" | "catalog" | "schema"> & { readonly sqlText: string },
): HistoryKeys {
  const { tokens } = lex(typeof input.sqlText === "string" ? input.sqlText : "");
  const fingerprint = templateFingerprint(queryTemplate(tokens));
  // The tables are read from the template's identifiers and the default catalog and schema, so
  // the keys are a function of the fingerprint, those two and the user: a warm template's keys
  // are looked up, not read and hashed again, on every decision.
  const memoKey = JSON.stringify([fingerprint, input.catalog, input.schema, input.user]);
  const known = keyMemo.get(memoKey);
  if (known !== undefined) return known.keys;
  const keys = historyKeys(fingerprint, tableReferences(tokens, input).tables, input.user);
  keyMemo.set(memoKey, { keys, bytes: 200 + 2 * memoKey.length });
  return keys;
}

/** Recent queries' history keys by template and context; 1 MiB (the keys are fixed-size). */
const keyMemo = new LruCache<string, { readonly keys: HistoryKeys; readonly bytes: number }>(
  Number.MAX_SAFE_INTEGER,
  { maxBytes: 2 ** 20, sizeOf: (entry) => entry.bytes },
);

/** What one completed query costs, as the history records it. */
export interface HistoryOutcome {
  readonly heavy: boolean;
  readonly cpuSeconds: number;
  readonly peakMemoryBytes: number;
}

/**
 * What a completion event records, given its label (the label rule's `heavy`, decided by the
 * caller: the feedback loop and training label the same way).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyOutcome } from "./history.ts";
 * const event = { metadata: { queryId: "q" }, context: {},
 *   statistics: { cpuTime: 4.5, peakUserMemoryBytes: 2e6 } };
 * assert.deepEqual(historyOutcome(event, true), { heavy: true, cpuSeconds: 4.5, peakMemoryBytes: 2e6 });
 * ```
 */
export function historyOutcome(event: QueryCompletedEvent, heavy: boolean): HistoryOutcome {
  return {
    heavy,
    cpuSeconds: durationSeconds(event.statistics.cpuTime) || 0,
    peakMemoryBytes: event.statistics.peakUserMemoryBytes ?? 0,
  };
}

function bin(value: number, floor: number, bins: number): number {
  if (!(value > 0)) return 0;
  const b = Math.floor((Math.log10(value) - floor) * BINS_PER_DECADE);
  return Math.min(bins - 1, Math.max(0, b));
}

/**
 * The store increments one completed query adds: per key, field → amount (`n` runs, `h` heavy,
 * `c<bin>` CPU, `m<bin>` memory). Stores add them (Redis `HINCRBY`), so replicas and replays
 * converge on the same counts whatever the order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyIncrements, historyKeys } from "./history.ts";
 * const keys = historyKeys("fp", ["tpch.sf1.lineitem"], "bob");
 * const inc = historyIncrements(keys, { heavy: true, cpuSeconds: 5, peakMemoryBytes: 1e6 });
 * assert.deepEqual(inc[keys.template], { n: 1, h: 1, c14: 1, m8: 1 });
 * assert.deepEqual(inc[keys.user!], { n: 1, h: 1 });
 * ```
 */
export function historyIncrements(
  keys: HistoryKeys,
  outcome: HistoryOutcome,
): Record<string, Record<string, number>> {
  const h = outcome.heavy ? 1 : 0;
  const out: Record<string, Record<string, number>> = {
    [keys.template]: {
      n: 1,
      h,
      [`c${bin(outcome.cpuSeconds, CPU_LOG_FLOOR, CPU_BINS)}`]: 1,
      [`m${bin(outcome.peakMemoryBytes, MEMORY_LOG_FLOOR, MEMORY_BINS)}`]: 1,
    },
  };
  if (keys.user !== undefined) out[keys.user] = { n: 1, h };
  return out;
}

/**
 * Reads a stored record (field → count, as `historyIncrements` wrote them) back into counts;
 * `undefined` for no record or no runs. Unknown fields and non-integers are ignored, so a
 * damaged record reads as less history, never as an error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyCounts } from "./history.ts";
 * const counts = historyCounts({ n: 2, h: 1, c14: 1, c2: 1 });
 * assert.equal(counts?.runs, 2);
 * assert.equal(counts?.cpu[14], 1);
 * assert.equal(historyCounts({}), undefined);
 * ```
 */
export function historyCounts(
  fields: Readonly<Record<string, number>> | undefined,
): HistoryCounts | undefined {
  const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : 0;
  const runs = count(fields?.n);
  if (runs === 0) return undefined;
  const cpu = new Array<number>(CPU_BINS).fill(0);
  const memory = new Array<number>(MEMORY_BINS).fill(0);
  for (let b = 0; b < CPU_BINS; b++) cpu[b] = count(fields![`c${b}`]);
  for (let b = 0; b < MEMORY_BINS; b++) memory[b] = count(fields![`m${b}`]);
  return { runs, heavy: Math.min(runs, count(fields!.h)), cpu, memory };
}

/**
 * The log10 upper edge of the bin holding the `q` quantile of a binned count, or
 * {@linkcode NO_HISTORY} when it holds nothing.
 */
function quantileLog(bins: readonly number[], q: number, floor: number): number {
  let total = 0;
  for (const c of bins) total += c;
  if (total === 0) return NO_HISTORY;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    seen += bins[b];
    if (seen >= rank) return floor + (b + 1) / BINS_PER_DECADE;
  }
  return floor + bins.length / BINS_PER_DECADE;
}

/**
 * The history features of a snapshot; every feature of a missing history is
 * {@linkcode NO_HISTORY} (a new template or user scores on the rest of the vector).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyCounts, historyFeatures, NO_HISTORY } from "./history.ts";
 * const f = historyFeatures({ template: historyCounts({ n: 4, h: 1, c14: 1, c2: 3 }) });
 * assert.equal(f.hist_template_heavy_rate, 0.25);
 * assert.equal(f.hist_template_cpu_p90_log, 0.75);
 * assert.equal(f.hist_user_heavy_rate, NO_HISTORY);
 * ```
 */
export function historyFeatures(
  snapshot: HistorySnapshot | undefined,
): Record<HistoryFeatureName, number> {
  const t = snapshot?.template;
  const u = snapshot?.user;
  return {
    hist_template_runs_log: t ? Math.log10(1 + t.runs) : NO_HISTORY,
    hist_template_heavy_rate: t ? t.heavy / t.runs : NO_HISTORY,
    hist_template_cpu_p50_log: t ? quantileLog(t.cpu, 0.5, CPU_LOG_FLOOR) : NO_HISTORY,
    hist_template_cpu_p90_log: t ? quantileLog(t.cpu, 0.9, CPU_LOG_FLOOR) : NO_HISTORY,
    hist_template_memory_p90_log: t ? quantileLog(t.memory, 0.9, MEMORY_LOG_FLOOR) : NO_HISTORY,
    hist_user_runs_log: u ? Math.log10(1 + u.runs) : NO_HISTORY,
    hist_user_heavy_rate: u ? u.heavy / u.runs : NO_HISTORY,
  };
}

/**
 * Stable text of a snapshot, for a decision cache key: equal keys read equal histories.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyCounts, snapshotKey } from "./history.ts";
 * assert.equal(snapshotKey(undefined), snapshotKey({}));
 * assert.notEqual(snapshotKey({ user: historyCounts({ n: 1 }) }), snapshotKey({}));
 * ```
 */
export function snapshotKey(snapshot: HistorySnapshot | undefined): string {
  const part = (c: HistoryCounts | undefined) =>
    c ? `${c.runs},${c.heavy},${c.cpu.join(".")},${c.memory.join(".")}` : "";
  const epoch = snapshot?.epoch === undefined ? "" : `|${snapshot.epoch}`;
  return `${part(snapshot?.template)}|${part(snapshot?.user)}${epoch}`;
}

/**
 * Adds one key's increments to its record (a new record when there is none) and returns it: the
 * one addition rule of every in-process history (`HistoryTable`, the memory store).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addHistoryFields } from "./history.ts";
 * assert.deepEqual(addHistoryFields({ n: 1, h: 0 }, { n: 1, h: 1 }), { n: 2, h: 1 });
 * ```
 */
export function addHistoryFields(
  record: Record<string, number> | undefined,
  fields: Readonly<Record<string, number>>,
): Record<string, number> {
  const out = record ?? {};
  for (const [field, by] of Object.entries(fields)) out[field] = (out[field] ?? 0) + by;
  return out;
}

/**
 * Default length of a history epoch in the shared (Redis) store: 5 s. Counts a replica reads
 * are those of its current epoch, so replicas agree whenever they are in the same epoch, and a
 * replica reads each key's record once per epoch instead of once per decision.
 */
export const DEFAULT_HISTORY_EPOCH_MS = 5_000;

/**
 * Epochs an increment waits before it is visible: one recorded in epoch `e` is read from epoch
 * `e + 2` on, so a replica whose clock runs up to one epoch behind the writer's still agrees.
 */
const VISIBLE_AFTER_EPOCHS = 2;
/**
 * Stamped increments older than this many epochs are folded into the record's plain counts by
 * the next write (they are visible to every reader up to two epochs behind the writer anyway).
 */
const FOLD_AFTER_EPOCHS = 4;

/**
 * The history epoch of an instant: `floor(nowMs / epochMs)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyEpoch } from "./history.ts";
 * assert.equal(historyEpoch(12_345, 5_000), 2);
 * ```
 */
export function historyEpoch(nowMs: number, epochMs: number): number {
  return Math.floor(nowMs / epochMs);
}

/**
 * One completed query's increments for a store with epochs: each field stamped with the epoch it
 * was recorded in (`<epoch>.<field>`), so that a reader can leave out what arrived too recently.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stampHistoryFields } from "./history.ts";
 * assert.deepEqual(stampHistoryFields({ n: 1, h: 0 }, 7), { "7.n": 1, "7.h": 0 });
 * ```
 */
export function stampHistoryFields(
  fields: Readonly<Record<string, number>>,
  epoch: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [field, by] of Object.entries(fields)) out[`${epoch}.${field}`] = by;
  return out;
}

/**
 * Stamped fields recorded before this epoch are folded into the plain counts by a writer in
 * `epoch` (the Redis store's write script does the folding; this is the rule it is given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyFoldBefore } from "./history.ts";
 * assert.equal(historyFoldBefore(10), 6);
 * ```
 */
export function historyFoldBefore(epoch: number): number {
  return epoch - FOLD_AFTER_EPOCHS;
}

/**
 * What a stored record (plain counts plus stamped increments) reads as in `epoch`: the plain
 * counts plus every increment recorded at least {@linkcode VISIBLE_AFTER_EPOCHS} epochs before.
 * A pure function of the record and the epoch, so two replicas reading one record in the same
 * epoch read the same counts, whenever each read it. `undefined` when nothing is visible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyView } from "./history.ts";
 * const stored = { n: 2, h: 1, "8.n": 1, "9.n": 1 };
 * assert.deepEqual(historyView(stored, 10), { n: 3, h: 1 });
 * assert.deepEqual(historyView(stored, 11), { n: 4, h: 1 });
 * assert.equal(historyView({ "9.n": 1 }, 10), undefined);
 * ```
 */
export function historyView(
  record: Readonly<Record<string, number>> | undefined,
  epoch: number,
): Record<string, number> | undefined {
  if (record === undefined) return undefined;
  const out: Record<string, number> = {};
  let any = false;
  for (const [stored, value] of Object.entries(record)) {
    const dot = stored.indexOf(".");
    if (dot >= 0 && !(Number(stored.slice(0, dot)) <= epoch - VISIBLE_AFTER_EPOCHS)) continue;
    const field = dot >= 0 ? stored.slice(dot + 1) : stored;
    out[field] = (out[field] ?? 0) + value;
    any = true;
  }
  return any ? out : undefined;
}

/** Where the router reads history records (the store implements it). */
export interface HistoryReader {
  /**
   * The records of `keys`, in order; `undefined` for a key without one. A reader with epochs
   * answers as of `epoch` (default: its current one; see {@linkcode historyView}).
   */
  readHistory(
    keys: readonly string[],
    epoch?: number,
  ): Promise<(Readonly<Record<string, number>> | undefined)[]>;
  /**
   * The epoch this reader answers in now; absent or `undefined`: no epochs (counts as they
   * stand, e.g. the single-process memory store).
   */
  historyEpoch?(): number | undefined;
}

/**
 * Reads a query's history snapshot through a reader; a failing reader reads as no history
 * (the store is an aid: losing it must not cost a decision).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HistoryTable, historyIncrements, historyKeys, readHistorySnapshot } from "./history.ts";
 * const table = new HistoryTable();
 * const keys = historyKeys("fp", [], "ann");
 * table.add(historyIncrements(keys, { heavy: true, cpuSeconds: 9, peakMemoryBytes: 0 }));
 * const reader = { readHistory: (ks: readonly string[]) => Promise.resolve(ks.map((k) => table.record(k))) };
 * assert.deepEqual(await readHistorySnapshot(reader, keys), table.snapshot(keys));
 * ```
 */
export async function readHistorySnapshot(
  reader: HistoryReader,
  keys: HistoryKeys,
): Promise<HistorySnapshot> {
  let epoch: number | undefined;
  try {
    // The epoch first, and the read made in it: the counts and the epoch they are stamped with
    // always belong together, even when the read straddles an epoch's end.
    epoch = reader.historyEpoch?.();
    const [template, user] = await reader.readHistory(
      keys.user === undefined ? [keys.template] : [keys.template, keys.user],
      epoch,
    );
    const snapshot = { template: historyCounts(template), user: historyCounts(user) };
    return epoch === undefined ? snapshot : { ...snapshot, epoch };
  } catch {
    return epoch === undefined ? {} : { epoch };
  }
}

/**
 * An in-memory history: adds increments and answers snapshots. The training replay keeps one
 * (feeding it events in end-time order) and the in-memory store keeps its counts the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HistoryTable, historyIncrements, historyKeys } from "./history.ts";
 * const table = new HistoryTable();
 * const keys = historyKeys("fp", [], "ann");
 * table.add(historyIncrements(keys, { heavy: false, cpuSeconds: 0.1, peakMemoryBytes: 0 }));
 * assert.equal(table.snapshot(keys).template?.runs, 1);
 * ```
 */
export class HistoryTable {
  readonly #records = new Map<string, Record<string, number>>();

  /** Adds the increments of one completed query. */
  add(increments: Readonly<Record<string, Readonly<Record<string, number>>>>): void {
    for (const [key, fields] of Object.entries(increments)) {
      this.#records.set(key, addHistoryFields(this.#records.get(key), fields));
    }
  }

  /** The stored record of one key (field → count). */
  record(key: string): Readonly<Record<string, number>> | undefined {
    return this.#records.get(key);
  }

  /** What a decision for a query with these keys reads. */
  snapshot(keys: HistoryKeys): HistorySnapshot {
    return {
      template: historyCounts(this.#records.get(keys.template)),
      user: keys.user === undefined ? undefined : historyCounts(this.#records.get(keys.user)),
    };
  }
}
