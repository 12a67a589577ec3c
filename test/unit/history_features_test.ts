/**
 * History features: keys that separate a template's runs by the tables it resolves to, counts
 * that add up the same in any order, the training replay's point-in-time rule (a row never
 * reads a run that had not ended when it was submitted), and the featurizer reading a snapshot
 * only when its spec asks for history.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  HISTORY_FEATURE_NAMES,
  historyCounts,
  historyFeatures,
  historyIncrements,
  historyKeys,
  HistoryTable,
  NO_HISTORY,
  queryHistoryKeys,
} from "../../src/features/history.ts";
import {
  createFeaturizer,
  featureNames,
  FIXED_FEATURE_NAMES,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import type { QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { pointInTimeHistory } from "../../training/history_replay.ts";
import type { LoggedQuery } from "../../training/query_log.ts";

Deno.test("a template's key includes the tables it resolves to; literals and case do not count", () => {
  const tiny = queryHistoryKeys({
    sqlText: "SELECT count(*) FROM lineitem WHERE quantity > 10",
    catalog: "tpch",
    schema: "tiny",
    user: "ann",
  });
  const tinyAgain = queryHistoryKeys({
    sqlText: "select COUNT(*) from tpch.tiny.lineitem where quantity > 99",
    user: "bob",
  });
  const sf1 = queryHistoryKeys({
    sqlText: "SELECT count(*) FROM lineitem WHERE quantity > 10",
    catalog: "tpch",
    schema: "sf1",
    user: "ann",
  });
  assert.notEqual(tiny.template, sf1.template);
  assert.equal(tiny.user, sf1.user);
  assert.notEqual(tiny.user, tinyAgain.user);
  // Another spelling of the same table is another template text: a different key.
  assert.notEqual(tiny.template, tinyAgain.template);
  assert.equal(
    queryHistoryKeys({ sqlText: "SELECT 1 FROM t WHERE a = 5", catalog: "c", schema: "s" })
      .template,
    queryHistoryKeys({ sqlText: "select 1 from t where a = 7", catalog: "c", schema: "s" })
      .template,
  );
  assert.ok(!tiny.template.includes("lineitem"), "keys are digests, never SQL");
});

Deno.test("counts add up to the same record in any order; features read quantiles of the bins", () => {
  const keys = historyKeys("fp", ["tpch.sf1.orders"], "ann");
  const outcomes = [
    { heavy: false, cpuSeconds: 0.01, peakMemoryBytes: 1e5 },
    { heavy: true, cpuSeconds: 5, peakMemoryBytes: 3e8 },
    { heavy: false, cpuSeconds: 0.02, peakMemoryBytes: 2e5 },
    { heavy: false, cpuSeconds: 0.5, peakMemoryBytes: 1e6 },
  ];
  const forward = new HistoryTable();
  const backward = new HistoryTable();
  for (const o of outcomes) forward.add(historyIncrements(keys, o));
  for (const o of [...outcomes].reverse()) backward.add(historyIncrements(keys, o));
  assert.deepEqual(forward.record(keys.template), backward.record(keys.template));
  const f = historyFeatures(forward.snapshot(keys));
  assert.equal(f.hist_template_runs_log, Math.log10(5));
  assert.equal(f.hist_template_heavy_rate, 0.25);
  assert.equal(f.hist_user_heavy_rate, 0.25);
  // p50 of {0.01, 0.02, 0.5, 5} s is the 0.02 s bin (upper edge 10^-1.5); p90 the 5 s bin.
  assert.equal(f.hist_template_cpu_p50_log, -1.5);
  assert.equal(f.hist_template_cpu_p90_log, 0.75);
  assert.ok(f.hist_template_memory_p90_log > 8.4 && f.hist_template_memory_p90_log <= 8.75);
  const none = historyFeatures(undefined);
  for (const name of HISTORY_FEATURE_NAMES) assert.equal(none[name], NO_HISTORY);
  // A damaged record reads as less history, never as an error or a rate above 1.
  assert.equal(historyCounts({ n: 2, h: 7, c3: -1, x: 4 })?.heavy, 2);
  assert.equal(historyCounts({ n: Number.NaN }), undefined);
});

function event(
  id: string,
  sql: string,
  created: string,
  ended: string,
  cpuSeconds: number,
): QueryCompletedEvent {
  return {
    metadata: { queryId: id, query: sql },
    statistics: { cpuTime: cpuSeconds, peakUserMemoryBytes: 0 },
    context: { user: "ann", catalog: "tpch", schema: "tiny" },
    createTime: created,
    endTime: ended,
  } as unknown as QueryCompletedEvent;
}

const row = (e: QueryCompletedEvent, heavy: boolean): LoggedQuery =>
  ({ event: e, heavy, queryId: e.metadata.queryId }) as unknown as LoggedQuery;

Deno.test("training replays history point-in-time: only runs that ended before submission", () => {
  const sql = "SELECT * FROM orders WHERE orderkey = 1";
  const rows = [
    row(event("a", sql, "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z", 5), true),
    // Submitted while `a` still ran: no history yet.
    row(event("b", sql, "2026-01-01T00:00:05Z", "2026-01-01T00:00:06Z", 0.1), false),
    // Submitted after both ended.
    row(event("c", sql, "2026-01-01T00:00:11Z", "2026-01-01T00:00:12Z", 0.1), false),
    // Submitted exactly when `c` ended: `c` is not yet history (strictly before).
    row(event("d", sql, "2026-01-01T00:00:12Z", "2026-01-01T00:00:13Z", 0.1), false),
    row(event("e", "SELECT 2", "2026-01-01T00:00:30Z", "2026-01-01T00:00:31Z", 0.1), false),
  ];
  const snapshots = pointInTimeHistory(rows);
  assert.equal(snapshots[0].template, undefined);
  assert.equal(snapshots[1].template, undefined);
  assert.deepEqual([snapshots[2].template?.runs, snapshots[2].template?.heavy], [2, 1]);
  assert.equal(snapshots[3].template?.runs, 2);
  // Another template of the same user: no template history, the user's four runs.
  assert.equal(snapshots[4].template, undefined);
  assert.deepEqual([snapshots[4].user?.runs, snapshots[4].user?.heavy], [4, 1]);
  // The input order of the log does not matter.
  const shuffled = pointInTimeHistory([rows[3], rows[0], rows[4], rows[2], rows[1]]);
  assert.deepEqual(shuffled[0], snapshots[3]);
  assert.deepEqual(shuffled[2], snapshots[4]);
});

Deno.test("the featurizer reads a history snapshot only when its spec has history features", () => {
  const keys = historyKeys("fp", [], "ann");
  const table = new HistoryTable();
  table.add(historyIncrements(keys, { heavy: true, cpuSeconds: 4, peakMemoryBytes: 0 }));
  const history = table.snapshot(keys);
  const input = { sqlText: "SELECT * FROM tpch.tiny.orders", user: "ann" };

  const plain = createFeaturizer(FIXED_ONLY_SPEC);
  assert.deepEqual(plain({ ...input, history }).vector, plain(input).vector);
  assert.equal(featureNames(FIXED_ONLY_SPEC).length, FIXED_FEATURE_NAMES.length);

  const spec = { ...FIXED_ONLY_SPEC, history: true };
  const names = featureNames(spec);
  const withHistory = createFeaturizer(spec);
  const read = withHistory({ ...input, history }).vector;
  const none = withHistory(input).vector;
  const at = (name: string) => names.indexOf(name);
  assert.equal(read[at("hist_template_heavy_rate")], 1);
  assert.equal(none[at("hist_template_heavy_rate")], NO_HISTORY);
  assert.deepEqual(
    read.subarray(0, FIXED_FEATURE_NAMES.length),
    none.subarray(0, FIXED_FEATURE_NAMES.length),
  );
  // A decision cache keyed by inputKey cannot serve one history's decision for another.
  assert.notEqual(withHistory.inputKey({ ...input, history }), withHistory.inputKey(input));
});
