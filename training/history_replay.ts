/**
 * History features replayed from a query log point-in-time: each row reads exactly the runs
 * that ended before it was submitted, counted by the history module the router and the
 * feedback loop use (`src/features/history.ts`). Two views of one replay: the snapshots the
 * featurizer writes into the training matrix, and a store the router reads while a log is
 * replayed through it — the second goes through the memory store and the router's own read, so
 * the replay's parity check covers the online path.
 *
 * @module
 */

import { instantMillis } from "../src/features/context_features.ts";
import {
  historyIncrements,
  type HistoryKeys,
  historyOutcome,
  type HistoryReader,
  type HistorySnapshot,
  HistoryTable,
  queryHistoryKeys,
} from "../src/features/history.ts";
import { eventToQueryInput } from "../src/labels/query_event.ts";
import { MemoryStore } from "../src/store/memory_store.ts";
import type { LoggedQuery } from "./query_log.ts";

/** Submission time of a row (its event's `createTime`), NaN without one. */
export const createdMillis = (row: LoggedQuery): number => instantMillis(row.event.createTime);

/** Rows' indices in submission order; rows without a submission time first (no history). */
export function submissionOrder(rows: readonly LoggedQuery[]): number[] {
  const at = rows.map((r) => {
    const t = createdMillis(r);
    return Number.isFinite(t) ? t : Number.NEGATIVE_INFINITY;
  });
  return rows.map((_, i) => i).sort((a, b) => at[a] - at[b] || a - b);
}

interface Completion {
  readonly end: number;
  readonly increments: Record<string, Record<string, number>>;
}

/** Each row's completion (end time, history increments), in end-time order. */
function completions(rows: readonly LoggedQuery[], keys: readonly HistoryKeys[]): Completion[] {
  return rows.flatMap((row, i): Completion[] => {
    const end = instantMillis(row.event.endTime);
    if (!Number.isFinite(end)) return [];
    return [{ end, increments: historyIncrements(keys[i], historyOutcome(row.event, row.heavy)) }];
  }).sort((a, b) => a.end - b.end);
}

const keysOf = (rows: readonly LoggedQuery[]) =>
  rows.map((r) => queryHistoryKeys(eventToQueryInput(r.event)));

/**
 * Each row's history snapshot, point-in-time: the log's rows added in end-time order, a row
 * reading the runs whose `endTime` precedes its `createTime`. Rows without a submission time
 * read no history; rows without an end time add none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointInTimeHistory } from "./history_replay.ts";
 * import { loadQueryLog } from "./query_log.ts";
 * const fixture = new URL("../test/fixtures/query_log_small.jsonl", import.meta.url).pathname;
 * const log = await loadQueryLog(fixture);
 * const snapshots = pointInTimeHistory(log.rows); // one per row, in row order
 * assert.equal(snapshots.length, log.rows.length);
 * // The first query submitted saw no run end before it: it reads no history.
 * const first = log.rows.reduce((a, r, i) => (r.time < log.rows[a].time ? i : a), 0);
 * assert.equal(snapshots[first].template ?? snapshots[first].user, undefined);
 * assert.ok(snapshots.some((s) => s.template !== undefined), "later queries read history");
 * ```
 */
export function pointInTimeHistory(rows: readonly LoggedQuery[]): HistorySnapshot[] {
  const keys = keysOf(rows);
  const done = completions(rows, keys);
  const table = new HistoryTable();
  const out: HistorySnapshot[] = rows.map(() => ({}));
  let next = 0;
  for (const i of submissionOrder(rows)) {
    const created = createdMillis(rows[i]);
    if (!Number.isFinite(created)) continue;
    while (next < done.length && done[next].end < created) table.add(done[next++].increments);
    out[i] = table.snapshot(keys[i]);
  }
  return out;
}

/**
 * The store a router reads while a log is replayed through it: `advanceTo(t)` adds (through
 * `MemoryStore.addHistory`, as the feedback loop does) every run that ended before `t`; rows must
 * be routed in {@linkcode submissionOrder}, each after `advanceTo` its submission time.
 */
export class ReplayHistory implements HistoryReader {
  readonly #done: Completion[];
  #store = ReplayHistory.#emptyStore();
  #next = 0;

  constructor(rows: readonly LoggedQuery[]) {
    this.#done = completions(rows, keysOf(rows));
  }

  static #emptyStore(): MemoryStore {
    // Nothing expires or is evicted during a replay: the counts are the log's, whole.
    return new MemoryStore({
      maxEntries: Number.MAX_SAFE_INTEGER,
      maxHistoryBytes: Number.MAX_SAFE_INTEGER,
      now: () => 0,
    });
  }

  /** Adds the runs that ended before `createdMs` (NaN: none; time only moves forward). */
  async advanceTo(createdMs: number): Promise<void> {
    if (!Number.isFinite(createdMs)) return;
    while (this.#next < this.#done.length && this.#done[this.#next].end < createdMs) {
      await this.#store.addHistory(this.#done[this.#next++].increments);
    }
  }

  /** Starts over with no history (for a second pass over the log). */
  reset(): void {
    this.#store = ReplayHistory.#emptyStore();
    this.#next = 0;
  }

  readHistory(keys: readonly string[]): Promise<(Readonly<Record<string, number>> | undefined)[]> {
    return this.#store.readHistory(keys);
  }
}
