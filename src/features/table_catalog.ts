/**
 * The table catalog: what scanning each table costs (rows and bytes), learned from Trino's
 * completion events (`ioMetadata.inputs[].physicalInputRows/Bytes`), and, from the cluster's own
 * statistics (`SHOW STATS`), each column's distinct count, which tells key joins from fan-out
 * joins (`join_estimate.ts`). A table's size is the largest scan ever observed of it (filtered
 * scans read less, a full scan reads it all) or the statistics' row count, whichever is larger.
 *
 * Determinism: the features read the catalog snapshot a model bundle carries (fitted on its
 * training rows), never a live one, so the same query, context and model version decide the
 * same on every replica. Live completion events only feed the next training.
 *
 * @module
 */

import type { QueryCompletedEvent } from "../labels/query_event.ts";

/** Rows and bytes a full scan of one table reads, and its columns' distinct counts if known. */
export interface TableSize {
  readonly rows: number;
  readonly bytes: number;
  /** Distinct values per (lower-case) column name; absent: no statistics. */
  readonly columns?: ReadonlyMap<string, number>;
}

/** A catalog snapshot, columnar and sorted by table name (stable JSON in the manifest). */
export interface TableCatalog {
  /** `catalog.schema.table`, lower-case, sorted. */
  readonly tables: readonly string[];
  /** Row count of each table, in `tables` order. */
  readonly rows: readonly number[];
  /** Size in bytes of each table, in `tables` order. */
  readonly bytes: readonly number[];
  /**
   * Distinct values per column of each table, in `tables` order (`{}`: no statistics for it);
   * absent in catalogs fitted without statistics.
   */
  readonly columns?: readonly Readonly<Record<string, number>>[];
}

/**
 * Column statistics of a cluster, as `training/column_stats.ts` writes them from `SHOW STATS`:
 * per `catalog.schema.table` (lower-case), its row count and each column's distinct count.
 */
export interface ColumnStatistics {
  readonly [table: string]: {
    readonly rows: number;
    readonly ndv: Readonly<Record<string, number>>;
  };
}

/** A catalog that knows no table. */
export const EMPTY_TABLE_CATALOG: TableCatalog = { tables: [], rows: [], bytes: [] };

/** One table scan reported by a completion event. */
export interface TableScan extends TableSize {
  readonly table: string;
}

const finiteOrZero = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0;

/**
 * The table scans of one completion event (inputs without a full name are skipped).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableScansOfEvent } from "./table_catalog.ts";
 * const scans = tableScansOfEvent({
 *   metadata: { queryId: "q" },
 *   statistics: {},
 *   context: {},
 *   ioMetadata: {
 *     inputs: [{ catalogName: "tpch", schema: "sf1", table: "Orders", physicalInputRows: 1.5e6 }],
 *   },
 * });
 * assert.deepEqual(scans, [{ table: "tpch.sf1.orders", rows: 1.5e6, bytes: 0 }]);
 * ```
 */
export function tableScansOfEvent(event: QueryCompletedEvent): TableScan[] {
  const scans: TableScan[] = [];
  // Inputs carry the connector's canonical schema name (tpcds reports `sf1.0` for `sf1`,
  // `sf0.01` for `tiny`); the catalog must be keyed by the names SQL uses, which the event's
  // `metadata.tables` lists. An input takes that schema when exactly one is listed for its table.
  const named = new Map<string, Set<string>>();
  for (const t of event.metadata.tables ?? []) {
    if (typeof t?.catalog !== "string" || typeof t.table !== "string") continue;
    if (typeof t.schema !== "string") continue;
    const key = `${t.catalog}.${t.table}`.toLowerCase();
    named.set(key, (named.get(key) ?? new Set()).add(t.schema.toLowerCase()));
  }
  for (const input of event.ioMetadata?.inputs ?? []) {
    const { catalogName, table } = input ?? {};
    let schema = input?.schema;
    if (typeof catalogName !== "string" || typeof schema !== "string") continue;
    if (typeof table !== "string" || !catalogName || !schema || !table) continue;
    const sqlSchemas = named.get(`${catalogName}.${table}`.toLowerCase());
    if (sqlSchemas?.size === 1) schema = [...sqlSchemas][0];
    scans.push({
      table: `${catalogName}.${schema}.${table}`.toLowerCase(),
      rows: finiteOrZero(input.physicalInputRows),
      bytes: finiteOrZero(input.physicalInputBytes),
    });
  }
  return scans;
}

/** Accumulates scans into per-table sizes: the largest scan of each table wins. */
export class TableCatalogBuilder {
  readonly #sizes = new Map<string, { rows: number; bytes: number }>();

  /** Adds one scan. */
  add(scan: TableScan): void {
    const seen = this.#sizes.get(scan.table);
    if (!seen) this.#sizes.set(scan.table, { rows: scan.rows, bytes: scan.bytes });
    else {
      seen.rows = Math.max(seen.rows, scan.rows);
      seen.bytes = Math.max(seen.bytes, scan.bytes);
    }
  }

  /** Adds every scan of a completion event. */
  addEvent(event: QueryCompletedEvent): void {
    for (const scan of tableScansOfEvent(event)) this.add(scan);
  }

  /** The snapshot, sorted by table name (independent of the order scans came in). */
  build(): TableCatalog {
    const tables = [...this.#sizes.keys()].sort();
    return {
      tables,
      rows: tables.map((t) => this.#sizes.get(t)!.rows),
      bytes: tables.map((t) => this.#sizes.get(t)!.bytes),
    };
  }
}

/** Bytes per column per row assumed when a connector reports no physical bytes. */
export const ESTIMATED_BYTES_PER_VALUE = 8;

/**
 * Adds the statistics' distinct counts to a snapshot's tables (tables the snapshot does not
 * know are not added: their cost was never observed) and raises each row count to the
 * statistics' when that is larger (a table only ever scanned filtered). A table whose scans
 * reported no bytes (the `tpch`/`tpcds` connectors generate rows and report none) gets rows ×
 * columns × {@linkcode ESTIMATED_BYTES_PER_VALUE}: a generated or decoded row costs with its
 * width, which the row count alone does not say.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withColumnStatistics } from "./table_catalog.ts";
 * const catalog = withColumnStatistics(
 *   { tables: ["tpch.tiny.nation", "tpch.tiny.region"], rows: [25, 5], bytes: [0, 0] },
 *   { "tpch.tiny.nation": { rows: 25, ndv: { regionkey: 5, nationkey: 25 } } },
 * );
 * assert.deepEqual(catalog.columns, [{ nationkey: 25, regionkey: 5 }, {}]);
 * assert.deepEqual(catalog.bytes, [25 * 2 * 8, 0]); // no bytes reported: rows × columns × 8
 * ```
 */
export function withColumnStatistics(
  catalog: TableCatalog,
  statistics: ColumnStatistics,
): TableCatalog {
  const stats = new Map(Object.entries(statistics));
  const rows = catalog.rows.map((r, i) => Math.max(r, stats.get(catalog.tables[i])?.rows ?? 0));
  return {
    tables: catalog.tables,
    rows,
    bytes: catalog.bytes.map((bytes, i) => {
      const columns = Object.keys(stats.get(catalog.tables[i])?.ndv ?? {}).length;
      return bytes > 0 ? bytes : rows[i] * columns * ESTIMATED_BYTES_PER_VALUE;
    }),
    columns: catalog.tables.map((table) => {
      const ndv = stats.get(table)?.ndv ?? {};
      // Sorted keys: the manifest's JSON is stable whatever order the statistics came in.
      return Object.fromEntries(
        Object.keys(ndv).sort().map((column) => [column.toLowerCase(), ndv[column]]),
      );
    }),
  };
}

/** Checks the shape of parsed column statistics; returns a problem description or undefined. */
export function columnStatisticsProblem(value: unknown): string | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return "column statistics must be an object of tables";
  }
  for (const [table, entry] of Object.entries(value)) {
    const e = entry as { rows?: unknown; ndv?: unknown } | undefined;
    if (!e || typeof e !== "object") return `column statistics of ${table} must be an object`;
    if (typeof e.rows !== "number" || !(e.rows >= 0)) return `${table}: rows must be a number`;
    if (!e.ndv || typeof e.ndv !== "object" || Array.isArray(e.ndv)) {
      return `${table}: ndv must be an object of columns`;
    }
    const counts = Object.values(e.ndv);
    if (!counts.every((v) => typeof v === "number" && v >= 0 && Number.isFinite(v))) {
      return `${table}: ndv values must be non-negative numbers`;
    }
  }
  return undefined;
}

/**
 * Compiles a snapshot into a look-up (a `Map` built once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableSizeLookup } from "./table_catalog.ts";
 * const size = tableSizeLookup({ tables: ["tpch.sf1.orders"], rows: [1.5e6], bytes: [0] });
 * assert.equal(size("tpch.sf1.orders")?.rows, 1.5e6);
 * assert.equal(size("tpch.tiny.orders"), undefined);
 * ```
 */
export function tableSizeLookup(catalog: TableCatalog): (table: string) => TableSize | undefined {
  const index = new Map<string, TableSize>(
    catalog.tables.map((t, i) => {
      const ndv = catalog.columns?.[i];
      const columns = ndv ? new Map(Object.entries(ndv)) : undefined;
      return [t, { rows: catalog.rows[i], bytes: catalog.bytes[i], columns }];
    }),
  );
  return (table) => index.get(table);
}

/** Checks the shape of a parsed catalog; returns a problem description or undefined. */
export function tableCatalogProblem(value: unknown): string | undefined {
  const c = value as Partial<TableCatalog> | undefined;
  if (!c || typeof c !== "object") return "tableCatalog must be an object";
  if (!Array.isArray(c.tables) || !Array.isArray(c.rows) || !Array.isArray(c.bytes)) {
    return "tableCatalog needs `tables`, `rows` and `bytes` arrays";
  }
  if (c.rows.length !== c.tables.length || c.bytes.length !== c.tables.length) {
    return "tableCatalog arrays differ in length";
  }
  if (!c.tables.every((t) => typeof t === "string")) return "tableCatalog.tables must be strings";
  const counts = (a: unknown[]) => a.every((v) => typeof v === "number" && v >= 0);
  if (!counts(c.rows) || !counts(c.bytes)) {
    return "tableCatalog rows/bytes must be non-negative numbers";
  }
  if (c.columns !== undefined) {
    if (!Array.isArray(c.columns) || c.columns.length !== c.tables.length) {
      return "tableCatalog.columns must be an array as long as `tables`";
    }
    for (const ndv of c.columns) {
      if (!ndv || typeof ndv !== "object" || Array.isArray(ndv) || !counts(Object.values(ndv))) {
        return "tableCatalog.columns must hold objects of non-negative distinct counts";
      }
    }
  }
  return undefined;
}
