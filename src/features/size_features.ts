/**
 * Structure weighted by size: what the query's shape costs given how big the tables it reads
 * are (from the bundle's table catalog). These carry cost from one query to another: a window
 * over `lineitem` at sf1 is expensive whatever template wrote it. Sizes are `log10(1 + rows)`,
 * so products of sizes (joins) are sums.
 *
 * @module
 */

import type { JoinEstimate } from "./join_estimate.ts";
import type { TableSize } from "./table_catalog.ts";
import type { TableReferences } from "./table_references.ts";
import type { TokenFeatureName } from "./token_features.ts";

/** Names of the size features, in vector order. */
export const SIZE_FEATURE_NAMES = [
  "tables_unknown",
  "table_refs",
  "rows_max_log",
  "rows_second_log",
  "rows_sum_log",
  "bytes_sum_log",
  "large_join_log",
  "rows_product_log",
  "expression_joins",
  "key_joins",
  "fanout_joins",
  "est_intermediate_log",
  "cte_reuse",
  "cte_reuse_rows_log",
  "window_rows_log",
  "group_by_rows_log",
  "distinct_rows_log",
  "sort_no_limit_rows_log",
  "table_scans",
  "large_table_scans",
  "scan_rows_log",
  "scan_bytes_log",
] as const;

/** A table of at least this many rows is a large scan (`large_table_scans`). */
export const LARGE_TABLE_ROWS = 100_000;

/** One size feature name. */
export type SizeFeatureName = typeof SIZE_FEATURE_NAMES[number];

const log1p10 = (x: number) => Math.log10(1 + x);

/**
 * Computes the size features from the query's resolved table references, its token counts, its
 * join estimate (`join_estimate.ts`, which reads the same catalog) and a table-size look-up.
 * Tables the catalog does not know count as size 0 and in `tables_unknown` (the novelty rule
 * reads it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "../sql/lexer.ts";
 * import { estimateJoins } from "./join_estimate.ts";
 * import { sizeFeatures } from "./size_features.ts";
 * import { tableReferences } from "./table_references.ts";
 * import { tokenFeatures } from "./token_features.ts";
 * const sql = "SELECT * FROM lineitem l JOIN orders o ON l.orderkey = o.orderkey ORDER BY 1";
 * const lexed = lex(sql);
 * const sizes = new Map([["tpch.sf1.lineitem", 6e6], ["tpch.sf1.orders", 1.5e6]]);
 * const sizeOf = (t: string) => sizes.has(t) ? { rows: sizes.get(t)!, bytes: 0 } : undefined;
 * const session = { catalog: "tpch", schema: "sf1" };
 * const f = sizeFeatures(
 *   tableReferences(lexed.tokens, session),
 *   tokenFeatures(sql, lexed),
 *   estimateJoins(lexed.tokens, session, sizeOf),
 *   sizeOf,
 * );
 * assert.equal(f.tables_unknown, 0);
 * assert.ok(f.large_join_log > 12 && f.sort_no_limit_rows_log > 6);
 * ```
 */
export function sizeFeatures(
  refs: TableReferences,
  tokens: Readonly<Record<TokenFeatureName, number>>,
  joins: JoinEstimate,
  sizeOf: (table: string) => TableSize | undefined,
): Record<SizeFeatureName, number> {
  let unknown = 0;
  for (const table of refs.tables) if (sizeOf(table) === undefined) unknown++;
  const logs: number[] = [];
  let rowsSum = 0;
  let bytesSum = 0;
  // What Trino actually scans: every reference as often as its CTE is inlined (`scans`).
  let scans = 0;
  let largeScans = 0;
  let scanRows = 0;
  let scanBytes = 0;
  refs.references.forEach((table, k) => {
    const size = sizeOf(table);
    const rows = size?.rows ?? 0;
    const times = refs.scans[k] ?? 1;
    logs.push(log1p10(rows));
    rowsSum += rows;
    bytesSum += size?.bytes ?? 0;
    scans += times;
    if (rows >= LARGE_TABLE_ROWS) largeScans += times;
    scanRows += rows * times;
    scanBytes += (size?.bytes ?? 0) * times;
  });
  logs.sort((a, b) => b - a);
  const max = logs[0] ?? 0;
  const second = logs[1] ?? 0;
  const joined = logs.length > 1 ? max + second : 0;
  let product = 0;
  for (const l of logs) product += l;
  const unlimitedSorts = Math.max(0, tokens.kw_order_by - tokens.kw_limit);
  return {
    tables_unknown: unknown,
    table_refs: refs.references.length,
    rows_max_log: max,
    rows_second_log: second,
    rows_sum_log: log1p10(rowsSum),
    bytes_sum_log: log1p10(bytesSum),
    large_join_log: joined,
    rows_product_log: product,
    expression_joins: joins.expressionJoins,
    key_joins: joins.keyJoins,
    fanout_joins: joins.fanoutJoins,
    est_intermediate_log: joins.intermediateLog,
    cte_reuse: refs.cteExtraReads,
    cte_reuse_rows_log: refs.cteExtraReads * max,
    window_rows_log: tokens.kw_over * max,
    group_by_rows_log: tokens.kw_group_by * max,
    distinct_rows_log: tokens.kw_distinct * max,
    sort_no_limit_rows_log: unlimitedSorts * max,
    table_scans: scans,
    large_table_scans: largeScans,
    scan_rows_log: log1p10(scanRows),
    scan_bytes_log: log1p10(scanBytes),
  };
}
