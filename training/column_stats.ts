/**
 * Reads a cluster's own column statistics (`SHOW STATS FOR catalog.schema.table`: row count and
 * distinct values per column) for every table of the given schemas into a JSON file the training
 * pipeline adds to the bundle's table catalog (`featurize.ts --column-stats`), so the join
 * estimate can tell key joins from fan-out joins. Statistics are metadata: no table is scanned
 * (the `tpch`/`tpcds` connectors compute them; a Hive/Iceberg catalog needs `ANALYZE` first).
 *
 * ```sh
 * deno run -A training/column_stats.ts --url http://127.0.0.1:18082 \
 *   --schemas tpch.tiny,tpch.sf1,tpcds.tiny,tpcds.sf1 --out data/column_stats.json
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { executeQuery } from "../tools/workload/trino_client.ts";
import { type ColumnStatistics, columnStatisticsProblem } from "../src/features/table_catalog.ts";

/** The file `column_stats.ts` writes: where the numbers came from, and the numbers. */
export interface ColumnStatisticsFile {
  readonly about: string;
  readonly tables: ColumnStatistics;
}

/**
 * Reads and checks a column statistics file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readColumnStatistics } from "./column_stats.ts";
 * const stats = await readColumnStatistics("data/column_stats.json");
 * assert.equal(stats["tpch.tiny.orders"].ndv.orderkey, stats["tpch.tiny.orders"].rows);
 * ```
 */
export async function readColumnStatistics(path: string): Promise<ColumnStatistics> {
  const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<ColumnStatisticsFile>;
  const problem = columnStatisticsProblem(parsed?.tables);
  if (problem) throw new Error(`${path}: ${problem}`);
  return parsed.tables!;
}

/**
 * Turns the rows of one `SHOW STATS` (column_name, data_size, distinct_values_count,
 * nulls_fraction, row_count, low_value, high_value; the summary row has no column name) into a
 * table's entry. Columns without a distinct count are left out (unknown).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statisticsOfShowStats } from "./column_stats.ts";
 * const entry = statisticsOfShowStats([
 *   ["nationkey", null, 25, 0, null, "0", "24"],
 *   ["Comment", 1857, 25, 0, null, null, null],
 *   ["unknown", null, null, null, null, null, null],
 *   [null, null, null, null, 25, null, null],
 * ]);
 * assert.deepEqual(entry, { rows: 25, ndv: { comment: 25, nationkey: 25 } });
 * ```
 */
export function statisticsOfShowStats(
  rows: readonly unknown[][],
): { rows: number; ndv: Record<string, number> } {
  const summary = rows.find((r) => r[0] === null);
  const ndv: Record<string, number> = {};
  for (const r of rows) {
    if (typeof r[0] !== "string" || r[2] === null || r[2] === undefined) continue;
    const count = Number(r[2]);
    if (Number.isFinite(count) && count >= 0) ndv[r[0].toLowerCase()] = Math.round(count);
  }
  const sorted = Object.fromEntries(Object.keys(ndv).sort().map((c) => [c, ndv[c]]));
  return { rows: Math.max(0, Number(summary?.[4] ?? 0) || 0), ndv: sorted };
}

async function query(url: string, sql: string): Promise<unknown[][]> {
  const out: unknown[][] = [];
  const outcome = await executeQuery(url, sql, { user: "column-stats" }, {
    timeoutMs: 120_000,
    onRows: (page) => out.push(...page),
  });
  if (outcome.state !== "FINISHED") {
    throw new Error(`${sql}: ${outcome.state} ${outcome.errorName}`);
  }
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      url: { type: "string", default: "http://127.0.0.1:18082" },
      schemas: { type: "string", default: "tpch.tiny,tpch.sf1,tpcds.tiny,tpcds.sf1" },
      out: { type: "string", default: "data/column_stats.json" },
    },
  });
  const tables: Record<string, { rows: number; ndv: Record<string, number> }> = {};
  for (const qualified of values.schemas!.split(",").filter(Boolean)) {
    const [catalog, schema] = qualified.split(".");
    const names = (await query(values.url!, `SHOW TABLES FROM ${catalog}.${schema}`))
      .map((r) => String(r[0]).toLowerCase()).sort();
    for (const table of names) {
      const stats = await query(values.url!, `SHOW STATS FOR ${catalog}.${schema}.${table}`);
      tables[`${catalog}.${schema}.${table}`.toLowerCase()] = statisticsOfShowStats(stats);
    }
  }
  const file: ColumnStatisticsFile = {
    about: `SHOW STATS of every table of ${values.schemas} on ${values.url}, ` +
      `${new Date().toISOString().slice(0, 10)} (training/column_stats.ts)`,
    tables,
  };
  await writeFile(values.out!, JSON.stringify(file, null, 1) + "\n");
  console.log(`${Object.keys(tables).length} tables → ${values.out}`);
}
