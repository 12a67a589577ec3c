/**
 * The trivial baseline every model must beat beside the design's heuristic: "the query names a
 * table of the large scale → heavy" (`sf1` or larger; `tiny` is the small scale), with tables
 * resolved exactly as the featurizer resolves them.
 *
 * @module
 */

import { tableReferences } from "../src/features/table_references.ts";
import { eventToQueryInput, type QueryCompletedEvent } from "../src/labels/query_event.ts";
import { lex } from "../src/sql/lexer.ts";
import { mustRunOnLarge } from "../src/sql/statement_kind.ts";
import type { LoggedQuery } from "./query_log.ts";
import type { ReplayedQuery } from "./replay.ts";

/** Name of the trivial baseline in reports and manifests. */
export const SCHEMA_RULE_NAME = "schema-rule";

const SCALE_SCHEMA = /^sf(\d+(?:\.\d+)?)$/;

/**
 * True when a resolved `catalog.schema.table` lives in a scale-factor schema of scale ≥ 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLargeScaleTable } from "./baselines.ts";
 * assert.ok(isLargeScaleTable("tpch.sf1.lineitem"));
 * assert.ok(!isLargeScaleTable("tpch.tiny.lineitem"));
 * ```
 */
export function isLargeScaleTable(table: string): boolean {
  const scale = SCALE_SCHEMA.exec(table.split(".")[1] ?? "");
  return scale !== null && Number(scale[1]) >= 1;
}

/**
 * The trivial rule on one logged query: heavy when any table it names is of the large scale.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { schemaRuleHeavy } from "./baselines.ts";
 * const event = { metadata: { queryId: "q", query: "SELECT * FROM tpch.sf1.orders" },
 *   statistics: {}, context: { catalog: "tpch", schema: "tiny" } };
 * assert.ok(schemaRuleHeavy(event));
 * ```
 */
export function schemaRuleHeavy(event: QueryCompletedEvent): boolean {
  const input = eventToQueryInput(event);
  return tableReferences(lex(input.sqlText).tokens, input).tables.some(isLargeScaleTable);
}

/**
 * The trivial rule replayed like a model: writes and DDL go to Large by the same policy the
 * router applies, every other row by the rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replaySchemaRule, SCHEMA_RULE_NAME } from "./baselines.ts";
 * import { loadQueryLog } from "./query_log.ts";
 * import { replayReport } from "./replay.ts";
 * const fixture = new URL("../test/fixtures/query_log_small.jsonl", import.meta.url).pathname;
 * const rows = (await loadQueryLog(fixture)).rows.filter((r) => r.split === "test");
 * const report = replayReport(SCHEMA_RULE_NAME, "test", replaySchemaRule(rows));
 * assert.equal(report.rows, rows.length);
 * assert.ok(report.byReason["write-statement"] > 0, "writes go to Large by the router's policy");
 * ```
 */
export function replaySchemaRule(rows: readonly LoggedQuery[]): ReplayedQuery[] {
  return rows.map((row) => {
    const write = mustRunOnLarge(row.statementKind);
    const heavy = write || schemaRuleHeavy(row.event);
    return {
      queryId: row.queryId,
      heavy: row.heavy,
      predictedHeavy: heavy,
      score: heavy ? 1 : 0,
      reason: write ? "write-statement" : "model",
      statementKind: row.statementKind,
      user: row.event.context.user ?? "",
      cpuSeconds: row.cpuSeconds,
    };
  });
}
