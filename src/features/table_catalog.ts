/**
 * The table catalog: what scanning each table costs (rows and bytes), learned from Trino's
 * completion events (`ioMetadata.inputs[].physicalInputRows/Bytes`). A table's size is the
 * largest scan ever observed of it: filtered scans read less, a full scan reads it all.
 *
 * Determinism: the features read the catalog snapshot a model bundle carries (fitted on its
 * training rows), never a live one, so the same query, context and model version decide the
 * same on every replica. Live completion events only feed the next training.
 *
 * @module
 */

import type { QueryCompletedEvent } from "../labels/query_event.ts";

/** Rows and bytes a full scan of one table reads. */
export interface TableSize {
  readonly rows: number;
  readonly bytes: number;
}

/** A catalog snapshot, columnar and sorted by table name (stable JSON in the manifest). */
export interface TableCatalog {
  /** `catalog.schema.table`, lower-case, sorted. */
  readonly tables: readonly string[];
  /** Row count of each table, in `tables` order. */
  readonly rows: readonly number[];
  /** Size in bytes of each table, in `tables` order. */
  readonly bytes: readonly number[];
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
    catalog.tables.map((t, i) => [t, { rows: catalog.rows[i], bytes: catalog.bytes[i] }]),
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
  return undefined;
}
