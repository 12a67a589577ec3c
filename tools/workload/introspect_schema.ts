/**
 * Reads the columns, types and row counts of the `tpch` and `tpcds` catalogs from a running
 * Trino (information_schema and `SHOW STATS`) into `random_schema.json`, the schema the random
 * query generator ({@linkcode ./random_queries.ts}) builds its queries from. Run once; the JSON
 * is committed so generating a plan needs no cluster.
 *
 * ```sh
 * npx deno run -A tools/workload/introspect_schema.ts --out tools/workload/random_schema.json
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { executeQuery } from "./trino_client.ts";
import type { CatalogSchema } from "./random_queries.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    url: { type: "string", default: "http://127.0.0.1:18082" },
    out: { type: "string", default: "tools/workload/random_schema.json" },
  },
});

async function rows(sql: string): Promise<unknown[][]> {
  const out: unknown[][] = [];
  const outcome = await executeQuery(values.url!, sql, { user: "introspect" }, {
    timeoutMs: 120_000,
    onRows: (page) => out.push(...page),
  });
  if (outcome.state !== "FINISHED") {
    throw new Error(`${sql}: ${outcome.state} ${outcome.errorName}`);
  }
  return out;
}

const catalogs: Record<string, CatalogSchema> = {};
interface Column {
  name: string;
  type: string;
  ndv: Record<string, number | null>;
  low?: string;
  high?: string;
}
for (const catalog of ["tpch", "tpcds"]) {
  const cols = await rows(
    `SELECT table_name, column_name, data_type FROM ${catalog}.information_schema.columns ` +
      `WHERE table_schema = 'tiny' ORDER BY table_name, ordinal_position`,
  );
  const tables: Record<string, { columns: Column[]; rows: Record<string, number> }> = {};
  for (const [table, column, type] of cols as string[][]) {
    if (table === "dbgen_version") continue; // a one-row generator stamp, not data
    tables[table] ??= { columns: [], rows: {} };
    tables[table].columns.push({ name: column, type, ndv: {} });
  }
  for (const [table, t] of Object.entries(tables)) {
    for (const scale of ["tiny", "sf1"]) {
      // SHOW STATS rows: column_name, data_size, distinct_values_count, nulls_fraction,
      // row_count, low_value, high_value; the summary row (column_name NULL) has the row count.
      const stats = await rows(`SHOW STATS FOR ${catalog}.${scale}.${table}`);
      t.rows[scale] = Number(stats.find((r) => r[0] === null)?.[4] ?? 0);
      for (const col of t.columns) {
        const r = stats.find((row) => row[0] === col.name);
        col.ndv[scale] = r?.[2] == null ? null : Math.round(Number(r[2]));
        // Value ranges of sf1 (the wider one) place the generator's range predicates.
        if (scale === "sf1" && r?.[5] != null) {
          col.low = String(r[5]);
          col.high = String(r[6]);
        }
      }
    }
  }
  catalogs[catalog] = { tables };
}
await Deno.writeTextFile(values.out!, JSON.stringify(catalogs, null, 1) + "\n");
console.log(
  Object.entries(catalogs).map(([c, s]) => `${c}: ${Object.keys(s.tables).length} tables`).join(
    ", ",
  ),
);
