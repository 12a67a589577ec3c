/**
 * Random query generator ("random-v1"): seeded, valid Trino SELECTs built from the `tpch` and
 * `tpcds` catalogs' own schemas (`random_schema.json`, see `introspect_schema.ts`) rather than
 * from hand-written templates — joins of 1–10 tables along real key relationships (tpch foreign
 * keys, tpcds `*_sk` keys) and some without, nested subqueries, CTEs referenced several times,
 * aggregations over high- and low-cardinality keys, window functions, DISTINCT, set operations,
 * ORDER BY with and without LIMIT, selective and non-selective predicates.
 *
 * A query *shape* is generated once and executed at both scales (`tiny` and `sf1`). Identity
 * (user, source, client tags) and the session catalog/schema are drawn independently of the
 * shape, so they carry no signal about cost; table names are written fully qualified,
 * schema-qualified or unqualified (then the session supplies the rest, so it must match).
 * Each planned query carries its structural `family` (the recipe, e.g. `j5x-win-cte2-ordlim`) in
 * `X-Trino-Client-Info`, which Trino copies into the completion event's `context.clientInfo`.
 *
 * Run with `tools/workload/run.ts --generator random --shapes N --seed S` (or in chunks with
 * `tools/workload/random_chunks.sh`).
 *
 * @module
 */

import { type PlannedQuery, Rng } from "./generate.ts";
import schemaJson from "./random_schema.json" with { type: "json" };

/** A column as introspected (`ndv` per scale; value range of sf1 when the connector has one). */
export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
  readonly ndv: Readonly<Record<string, number | null>>;
  readonly low?: string;
  readonly high?: string;
}

/** Schema of one catalog as introspected: columns and row counts per scale of each table. */
export interface CatalogSchema {
  readonly tables: Readonly<
    Record<
      string,
      { readonly columns: readonly ColumnInfo[]; readonly rows: Record<string, number> }
    >
  >;
}

/** The generator's name, recorded in every query's client info. */
export const GENERATOR = "random-v1";

/** The scales every shape runs at. */
export const SCALES = ["tiny", "sf1"] as const;

const SCHEMA = schemaJson as unknown as Record<string, CatalogSchema>;

/** A join edge: `a.cols[i] = b.cols[i]` for every pair. */
interface Edge {
  readonly a: string;
  readonly b: string;
  readonly pairs: ReadonlyArray<readonly [string, string]>;
}

/** tpch primary keys: any other table's column of the same name is a foreign key to them. */
const TPCH_KEYS: Record<string, string> = {
  region: "regionkey",
  nation: "nationkey",
  supplier: "suppkey",
  customer: "custkey",
  part: "partkey",
  orders: "orderkey",
};

/**
 * tpcds dimensions by the suffix their foreign keys end with (`ss_sold_date_sk` → `date_dim`);
 * the dimension's key is its first column (`d_date_sk`).
 */
const TPCDS_DIMENSION_SUFFIX: Record<string, string> = {
  date_dim: "date_sk",
  time_dim: "time_sk",
  item: "item_sk",
  customer: "customer_sk",
  customer_demographics: "cdemo_sk",
  household_demographics: "hdemo_sk",
  customer_address: "addr_sk",
  store: "store_sk",
  promotion: "promo_sk",
  warehouse: "warehouse_sk",
  ship_mode: "ship_mode_sk",
  call_center: "call_center_sk",
  web_page: "web_page_sk",
  web_site: "site_sk",
  catalog_page: "catalog_page_sk",
  reason: "reason_sk",
  income_band: "income_band_sk",
};

/** tpcds returns ↔ sales: the ticket/order number plus the item. */
const TPCDS_RETURNS: ReadonlyArray<readonly [string, string, string, string]> = [
  ["store_returns", "store_sales", "sr_", "ss_"],
  ["catalog_returns", "catalog_sales", "cr_", "cs_"],
  ["web_returns", "web_sales", "wr_", "ws_"],
];

/** Key edges of a catalog, derived from its introspected columns. */
export function keyEdges(catalog: string): Edge[] {
  const tables = SCHEMA[catalog].tables;
  const edges: Edge[] = [];
  for (const [table, t] of Object.entries(tables)) {
    for (const col of t.columns) {
      if (catalog === "tpch") {
        for (const [dim, key] of Object.entries(TPCH_KEYS)) {
          if (dim !== table && col.name === key) {
            edges.push({ a: table, b: dim, pairs: [[key, key]] });
          }
        }
      } else {
        if (!col.name.endsWith("_sk")) continue;
        for (const [dim, suffix] of Object.entries(TPCDS_DIMENSION_SUFFIX)) {
          if (dim in tables && dim !== table && col.name.endsWith(`_${suffix}`)) {
            edges.push({ a: table, b: dim, pairs: [[col.name, tables[dim].columns[0].name]] });
          }
        }
      }
    }
  }
  if (catalog === "tpcds") {
    for (const [ret, sales, r, s] of TPCDS_RETURNS) {
      const number = ret === "store_returns" ? "ticket_number" : "order_number";
      edges.push({
        a: ret,
        b: sales,
        pairs: [[`${r}${number}`, `${s}${number}`], [`${r}item_sk`, `${s}item_sk`]],
      });
    }
  }
  return edges;
}

const EDGES: Record<string, Edge[]> = Object.fromEntries(
  Object.keys(SCHEMA).map((c) => [c, keyEdges(c)]),
);

/** One planned execution of a random shape, with its recipe. */
export interface RandomQuery extends PlannedQuery {
  /** The structural recipe (also in `clientInfo`). */
  readonly family: string;
  /** Id of the shape; its two executions (tiny and sf1) share it. */
  readonly shape: string;
  /** Scale the shape's tables were rendered at. */
  readonly scale: string;
  /** Catalog of the shape's tables (the session's may differ). */
  readonly shapeCatalog: string;
}

const NUMERIC = /^(bigint|integer|smallint|tinyint|double|real|decimal)/;
const INTEGRAL = /^(bigint|integer|smallint|tinyint)/;
const isNumeric = (c: ColumnInfo) => NUMERIC.test(c.type);
const isIntegral = (c: ColumnInfo) => INTEGRAL.test(c.type);
const isString = (c: ColumnInfo) => /^(varchar|char)/.test(c.type);
const isDate = (c: ColumnInfo) => c.type === "date";

interface Ref {
  readonly alias: string;
  readonly table: string;
}

/** Marker of a table reference in a shape's SQL; rendered per scale and naming style. */
const marker = (catalog: string, table: string) => `{{${catalog}.${table}}}`;

/** Builds one shape (SQL with table markers) and its recipe. */
class ShapeBuilder {
  readonly tags = new Set<string>();
  #aliases = 0;
  constructor(readonly r: Rng, readonly catalog: string, readonly mix: Mix) {}

  #columns(table: string): readonly ColumnInfo[] {
    return SCHEMA[this.catalog].tables[table].columns;
  }
  #table(name: string) {
    return SCHEMA[this.catalog].tables[name];
  }
  /**
   * Sampling weight of a table: the big fact tables (sf1 scans of ≥ 1M rows cost ≥ 3 CPU s
   * here) less often, so that heavy queries stay a minority at both scales.
   */
  #weight(table: string, nonKey = false): number {
    const rows = this.#table(table).rows.sf1;
    if (nonKey) return rows <= 200_000 ? 1 : 0.1;
    return rows >= 1_000_000
      ? this.mix.bigTableWeight
      : rows >= 200_000
      ? this.mix.midTableWeight
      : 1;
  }
  #alias(): string {
    return `t${++this.#aliases}`;
  }

  /** The FROM clause of `n` tables: a random walk over key edges, sometimes a non-key join. */
  from(n: number): { sql: string; refs: Ref[] } {
    const r = this.r;
    const tables = Object.keys(SCHEMA[this.catalog].tables);
    const edges = EDGES[this.catalog];
    const first: Ref = {
      alias: this.#alias(),
      table: r.weighted(tables.map((t) => [t, this.#weight(t)] as const)),
    };
    const refs = [first];
    let sql = `${marker(this.catalog, first.table)} ${first.alias}`;
    while (refs.length < n) {
      const nonKey = r.chance(this.mix.nonKeyShare);
      const candidates = nonKey ? [] : edges.flatMap((e) =>
        refs.flatMap((ref) => {
          if (e.a === ref.table) return [{ ref, e, other: e.b, flip: false }];
          if (e.b === ref.table) return [{ ref, e, other: e.a, flip: true }];
          return [];
        })
      );
      if (candidates.length > 0) {
        const { ref, e, other, flip } = r.weighted(
          candidates.map((c) => [c, this.#weight(c.other)] as const),
        );
        const next: Ref = { alias: this.#alias(), table: other };
        const on = e.pairs.map(([ca, cb]) =>
          flip
            ? `${ref.alias}.${cb} = ${next.alias}.${ca}`
            : `${ref.alias}.${ca} = ${next.alias}.${cb}`
        ).join(" AND ");
        const kind = r.weighted([["JOIN", 8], ["LEFT JOIN", 2]] as const);
        sql += `\n${kind} ${marker(this.catalog, other)} ${next.alias} ON ${on}`;
        refs.push(next);
        continue;
      }
      // No key relationship: a cross join, or an equi-join of unrelated columns bucketed by a
      // modulus. Either may explode; the per-query CPU cap bounds the cost.
      this.tags.add("x");
      const ref = r.pick(refs);
      const next: Ref = {
        alias: this.#alias(),
        table: r.weighted(tables.map((t) => [t, this.#weight(t, true)] as const)),
      };
      const ia = this.#columns(ref.table).filter(isIntegral);
      const ib = this.#columns(next.table).filter(isIntegral);
      if (ia.length > 0 && ib.length > 0 && r.chance(0.7)) {
        const m = r.pick([3, 10, 100, 1000]);
        sql += `\nJOIN ${marker(this.catalog, next.table)} ${next.alias} ON mod(${ref.alias}.${
          r.pick(ia).name
        }, ${m}) = mod(${next.alias}.${r.pick(ib).name}, ${m})`;
      } else {
        sql += `\nCROSS JOIN ${marker(this.catalog, next.table)} ${next.alias}`;
      }
      refs.push(next);
    }
    return { sql, refs };
  }

  /** A random column of one of `refs` matching `ok`, as `alias.name`, or undefined. */
  column(refs: readonly Ref[], ok: (c: ColumnInfo) => boolean = () => true) {
    const all = refs.flatMap((ref) =>
      this.#columns(ref.table).filter(ok).map((c) => ({ ref, c, expr: `${ref.alias}.${c.name}` }))
    );
    return all.length ? this.r.pick(all) : undefined;
  }

  /** A predicate; selective ones keep ~0–2% of rows, non-selective ones most rows. */
  predicate(refs: readonly Ref[], selective: boolean): string {
    const r = this.r;
    const pick = this.column(refs, (c) => isNumeric(c) || isString(c) || isDate(c))!;
    const { c, expr } = pick;
    if (isIntegral(c)) {
      const m = r.pick([50, 100, 1000]);
      return selective
        ? `mod(${expr}, ${m}) = ${r.int(0, m - 1)}`
        : `mod(${expr}, ${m}) <> ${r.int(0, m - 1)}`;
    }
    if (isNumeric(c) && c.low !== undefined && c.high !== undefined) {
      const lo = Number(c.low), hi = Number(c.high);
      const at = (f: number) => Math.round((lo + (hi - lo) * f) * 100) / 100;
      return selective
        ? `${expr} < ${at(r.pick([0.005, 0.01, 0.02]))}`
        : `${expr} > ${at(r.pick([0.02, 0.1, 0.3]))}`;
    }
    if (isDate(c) && c.low !== undefined) {
      const lo = Date.parse(c.low), hi = Date.parse(c.high ?? c.low);
      const day = new Date(lo + r.next() * (hi - lo)).toISOString().slice(0, 10);
      return selective
        ? `${expr} BETWEEN DATE '${day}' AND DATE '${day}' + INTERVAL '${r.int(1, 14)}' DAY`
        : `${expr} > DATE '${new Date(lo + 0.1 * (hi - lo)).toISOString().slice(0, 10)}'`;
    }
    if (isString(c)) {
      const letters = "abcdefghijklmnopqrstuvwxyz";
      const s = letters[r.int(0, 25)] + letters[r.int(0, 25)];
      return selective
        ? `${expr} LIKE '%${s}%q%'`
        : r.pick([`${expr} IS NOT NULL`, `length(${expr}) > 1`]);
    }
    return `${expr} IS NOT NULL`;
  }

  /** WHERE clause of 0–4 predicates; records `sel`/`nonsel` in the recipe. */
  where(refs: readonly Ref[]): string {
    const n = this.r.weighted([[0, 3], [1, 4], [2, 3], [3, 2], [4, 1]] as const);
    if (n === 0) return "";
    const preds: string[] = [];
    for (let i = 0; i < n; i++) {
      const selective = this.r.chance(0.4);
      this.tags.add(selective ? "sel" : "nonsel");
      preds.push(this.predicate(refs, selective));
    }
    return `\nWHERE ${preds.join("\n  AND ")}`;
  }

  /** A grouping key: low (≤ 50 distinct values) or high (≥ 1,000 at sf1) cardinality. */
  groupKey(refs: readonly Ref[], high: boolean): string {
    const ndv = (c: ColumnInfo) => c.ndv.sf1 ?? 0;
    const col = this.column(refs, (c) => (high ? ndv(c) >= 1000 : ndv(c) > 0 && ndv(c) <= 50));
    if (col) return col.expr;
    const key = this.column(refs, isIntegral) ?? this.column(refs)!;
    return high ? key.expr : `mod(${key.expr}, 7)`;
  }

  /** An aggregate call. */
  aggregate(refs: readonly Ref[]): string {
    const num = this.column(refs, isNumeric);
    const any = this.column(refs)!;
    const options = ["count(*)", `count(DISTINCT ${any.expr})`, `max(${any.expr})`];
    if (num) options.push(`sum(${num.expr})`, `avg(${num.expr})`, `min(${num.expr})`);
    if (this.r.chance(0.1)) options.push(`approx_distinct(${any.expr})`);
    const agg = this.r.pick(options);
    if (agg.startsWith("count(DISTINCT")) this.tags.add("cdist");
    return agg;
  }

  /**
   * A SELECT block over `from` with one of the projection styles; returns its SQL and the number
   * of output columns (named c1..cN so that outer blocks can use them).
   */
  select(from: { sql: string; refs: Ref[] }, style: string): { sql: string; width: number } {
    const r = this.r;
    const where = this.where(from.refs);
    const outs: string[] = [];
    let groupBy = "";
    let distinct = "";
    switch (style) {
      case "plain":
        for (let i = r.int(1, 5); i > 0; i--) outs.push(this.column(from.refs)!.expr);
        break;
      case "distinct":
        distinct = "DISTINCT ";
        for (let i = r.int(1, 3); i > 0; i--) outs.push(this.column(from.refs)!.expr);
        break;
      case "agglo":
      case "agghi": {
        const keys: string[] = [];
        for (let i = r.int(1, style === "agglo" ? 2 : 3); i > 0; i--) {
          keys.push(this.groupKey(from.refs, style === "agghi"));
        }
        outs.push(...keys);
        for (let i = r.int(1, 3); i > 0; i--) outs.push(this.aggregate(from.refs));
        groupBy = `\nGROUP BY ${keys.map((_, i) => i + 1).join(", ")}`;
        break;
      }
      case "aggglobal":
        for (let i = r.int(1, 3); i > 0; i--) outs.push(this.aggregate(from.refs));
        break;
      case "win": {
        for (let i = r.int(1, 3); i > 0; i--) outs.push(this.column(from.refs)!.expr);
        const part = r.weighted([["none", 1], ["lo", 2], ["hi", 2]] as const);
        const partition = part === "none"
          ? ""
          : `PARTITION BY ${this.groupKey(from.refs, part === "hi")} `;
        this.tags.add(`win${part}`);
        const order = this.column(from.refs)!.expr;
        const num = this.column(from.refs, isNumeric)?.expr ?? "1";
        const fn = r.pick([
          "row_number()",
          "rank()",
          "dense_rank()",
          `sum(${num})`,
          `avg(${num})`,
          `lag(${order})`,
          `count(*)`,
        ]);
        const frame = fn.startsWith("sum") && r.chance(0.4)
          ? " ROWS BETWEEN 10 PRECEDING AND CURRENT ROW"
          : "";
        outs.push(`${fn} OVER (${partition}ORDER BY ${order}${frame})`);
        break;
      }
    }
    const sql = `SELECT ${distinct}${
      outs.map((o, i) => `${o} AS c${i + 1}`).join(", ")
    }\nFROM ${from.sql}${where}${groupBy}`;
    return { sql, width: outs.length };
  }
}

/**
 * Sampling weights of the generator. `base` ran first (chunks 1–2); `structural` puts more of
 * the heavy cost into structure (more tables, CTE self-joins, windows, non-key joins) and less
 * into big tables, so that heavy queries on `tiny` are not rare. The mix of every execution other
 * than `base` is named in its client info.
 */
export interface Mix {
  readonly name: string;
  /** Share of join steps that join without a key relationship. */
  readonly nonKeyShare: number;
  /** Sampling weight of tables with ≥ 1M rows at sf1 (others: 1). */
  readonly bigTableWeight: number;
  /** Sampling weight of tables with 200k–1M rows at sf1. */
  readonly midTableWeight: number;
  /** Weights of the number of tables of a FROM clause (1–10). */
  readonly tableCounts: ReadonlyArray<readonly [number, number]>;
  /** Weights of the projection styles. */
  readonly styles: ReadonlyArray<readonly [string, number]>;
  /** Weights of the wrappers around the core block. */
  readonly wraps: ReadonlyArray<readonly [string, number]>;
  /** Share of multi-use CTEs that are self-joined (the rest are UNION ALLed). */
  readonly cteJoinShare: number;
}

/** The named mixes. */
export const MIXES: Readonly<Record<string, Mix>> = {
  base: {
    name: "base",
    nonKeyShare: 0.06,
    bigTableWeight: 0.15,
    midTableWeight: 0.4,
    tableCounts: [[1, 22], [2, 22], [3, 16], [4, 11], [5, 8], [6, 6], [7, 5], [8, 4], [9, 3], [
      10,
      3,
    ]],
    styles: [["plain", 4], ["distinct", 2], ["agglo", 3], ["agghi", 3], ["aggglobal", 2], [
      "win",
      3,
    ]],
    wraps: [["none", 5], ["cte", 3], ["sub", 2], ["in", 2], ["scalar", 1], ["set", 2]],
    cteJoinShare: 0.6,
  },
  structural: {
    name: "structural",
    nonKeyShare: 0.1,
    bigTableWeight: 0.05,
    midTableWeight: 0.25,
    tableCounts: [[1, 14], [2, 14], [3, 13], [4, 12], [5, 11], [6, 10], [7, 8], [8, 7], [9, 6], [
      10,
      5,
    ]],
    styles: [["plain", 4], ["distinct", 2], ["agglo", 3], ["agghi", 3], ["aggglobal", 2], [
      "win",
      4,
    ]],
    wraps: [["none", 4], ["cte", 4], ["sub", 2], ["in", 2], ["scalar", 1], ["set", 2]],
    cteJoinShare: 0.75,
  },
};

/** A generated shape: SQL with table markers, its catalog and recipe. */
export interface Shape {
  readonly sql: string;
  readonly catalog: string;
  readonly family: string;
}

/** Generates one shape. */
export function generateShape(r: Rng, mix: Mix = MIXES.base): Shape {
  const catalog = r.pick(Object.keys(SCHEMA).sort());
  const b = new ShapeBuilder(r, catalog, mix);
  const n = r.weighted(mix.tableCounts);
  const style = r.weighted(mix.styles);
  const wrap = r.weighted(mix.wraps);
  const parts: string[] = [`j${n}`];
  let sql: string;
  let width: number;
  switch (wrap) {
    case "none":
    case "in":
    case "scalar": {
      const from = b.from(n);
      ({ sql, width } = b.select(from, style));
      if (wrap !== "none") {
        const cond = wrap === "in" ? inSubquery(b, from.refs) : scalarSubquery(b, from.refs);
        sql = sql.includes("\nWHERE ")
          ? sql.replace("\nWHERE ", `\nWHERE ${cond}\n  AND `)
          : sql.replace(/\nGROUP BY|$/, (m) => `\nWHERE ${cond}${m}`);
        parts.push(wrap);
      }
      break;
    }
    case "sub": {
      // A derived table aggregated or filtered again outside.
      const inner = b.select(b.from(n), style);
      const outer = r.pick(["agg", "filter", "win"]);
      const key = `s.c${r.int(1, inner.width)}`;
      sql = outer === "agg"
        ? `SELECT ${key} AS c1, count(*) AS c2\nFROM (\n${inner.sql}\n) s\nGROUP BY 1`
        : outer === "win"
        ? `SELECT s.*, row_number() OVER (PARTITION BY ${key} ORDER BY s.c1) AS rn\nFROM (\n${inner.sql}\n) s`
        : `SELECT s.*\nFROM (\n${inner.sql}\n) s\nWHERE ${key} IS NOT NULL`;
      width = outer === "agg" ? 2 : inner.width + (outer === "win" ? 1 : 0);
      parts.push(`sub${outer}`);
      break;
    }
    case "cte": {
      // A CTE referenced 2–4 times: self-joined on a column, or unioned with itself.
      const inner = b.select(b.from(n), style);
      const uses = r.int(2, 4);
      const key = `c${r.int(1, inner.width)}`;
      const names = Array.from({ length: uses }, (_, i) => `u${i + 1}`);
      const join = r.chance(mix.cteJoinShare);
      const body = join
        ? `SELECT count(*) AS c1, count(DISTINCT u1.${key}) AS c2\nFROM base u1\n` +
          names.slice(1).map((u) => `JOIN base ${u} ON ${u}.${key} = u1.${key}`).join("\n")
        : names.map(() => "SELECT * FROM base").join("\nUNION ALL\n");
      sql = `WITH base AS (\n${inner.sql}\n)\n${body}`;
      width = join ? 2 : inner.width;
      parts.push(`cte${uses}${join ? "j" : "u"}`);
      break;
    }
    default: {
      // Two blocks over the same FROM shape with different predicates, combined.
      const op = r.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
      const from = b.from(n);
      const left = b.select(from, "plain");
      const cols = left.sql.slice("SELECT ".length, left.sql.indexOf("\nFROM"));
      const right = `SELECT ${cols}\nFROM ${from.sql}${b.where(from.refs)}`;
      sql = `${left.sql}\n${op}\n${right}`;
      width = left.width;
      parts.push(`set${op.replace(" ", "").toLowerCase()}`);
    }
  }
  if (wrap !== "set") parts.push(style);
  // ORDER BY positions stay valid for every projection (and after DISTINCT / set operations).
  const order = r.weighted([["none", 5], ["ord", 2], ["ordlim", 3]] as const);
  if (order !== "none") {
    const keys = Array.from({ length: r.int(1, Math.min(width, 3)) }, (_, i) => `${i + 1}`);
    sql += `\nORDER BY ${keys.join(", ")}${
      order === "ordlim" ? `\nLIMIT ${r.pick([1, 10, 100, 1000])}` : ""
    }`;
    parts.push(order);
  }
  for (const tag of ["x", "cdist", "winnone", "winlo", "winhi", "sel", "nonsel"]) {
    if (b.tags.has(tag)) parts.push(tag);
  }
  if (b.tags.has("x")) parts[0] += "x";
  return { sql, catalog, family: parts.filter((p) => p !== "x").join("-") };
}

function inSubquery(b: ShapeBuilder, refs: readonly Ref[]): string {
  // `t.k IN (SELECT key FROM other WHERE …)` along a key edge of one of the referenced tables.
  const edges = EDGES[b.catalog].filter((e) =>
    refs.some((ref) => ref.table === e.a || ref.table === e.b)
  );
  if (edges.length === 0) return "1 = 1";
  const e = b.r.pick(edges);
  const ref = refs.find((x) => x.table === e.a) ?? refs.find((x) => x.table === e.b)!;
  const [ca, cb] = e.pairs[0];
  const [mine, theirs, other] = ref.table === e.a ? [ca, cb, e.b] : [cb, ca, e.a];
  const where = b.where([{ alias: "s0", table: other }]);
  const sub = `SELECT s0.${theirs} FROM ${marker(b.catalog, other)} s0${where}`;
  return `${ref.alias}.${mine} ${b.r.chance(0.2) ? "NOT IN" : "IN"} (${sub})`;
}

function scalarSubquery(b: ShapeBuilder, refs: readonly Ref[]): string {
  const col = b.column(refs, isNumeric);
  if (!col) return "1 = 1";
  const t = col.ref.table;
  return `${col.expr} > (SELECT avg(s0.${col.c.name}) FROM ${marker(b.catalog, t)} s0)`;
}

const USERS = [
  "alice",
  "bob",
  "carol",
  "dave",
  "erin",
  "frank",
  "grace",
  "heidi",
  "ivan",
  "judy",
  "bi_svc",
  "etl_svc",
];
const SOURCES = ["bi-dashboard", "notebook", "etl", "trino-cli", "jdbc", "superset"];
const TAGS = [
  "adhoc",
  "team:analytics",
  "team:finance",
  "dashboard:sales",
  "pipeline:nightly",
  "refresh",
];
const SESSIONS = [["tpch", "tiny"], ["tpch", "sf1"], ["tpcds", "tiny"], ["tpcds", "sf1"]] as const;

/**
 * The session of one execution: usually the shape's own catalog (and sometimes its schema),
 * sometimes another one, sometimes none — independent of the query's cost.
 */
function session(r: Rng, catalog: string, scale: string): readonly [string, string] {
  return r.weighted<readonly [string, string]>([
    [[catalog, scale], 40],
    [[catalog, scale === "tiny" ? "sf1" : "tiny"], 25],
    [r.pick(SESSIONS), 28],
    [["", ""], 7],
  ]);
}

/**
 * Renders a shape's table markers at `scale`: each reference fully qualified, schema-qualified
 * (only when the session catalog matches) or unqualified (only when the session catalog and
 * schema match), so every rendering names the same tables.
 */
export function renderShape(
  r: Rng,
  shape: Shape,
  scale: string,
  sessionCatalog: string,
  sessionSchema: string,
): string {
  return shape.sql.replace(/\{\{(\w+)\.(\w+)\}\}/g, (_, catalog: string, table: string) => {
    const styles: Array<readonly [string, number]> = [[`${catalog}.${scale}.${table}`, 4]];
    if (sessionCatalog === catalog) styles.push([`${scale}.${table}`, 3]);
    if (sessionCatalog === catalog && sessionSchema === scale) styles.push([table, 4]);
    return r.weighted(styles);
  });
}

/** Options of {@linkcode generateRandomPlan}. */
export interface RandomPlanOptions {
  /** Number of shapes; the plan has one execution per shape and scale. */
  readonly shapes: number;
  readonly seed: number;
  /** Share of executions sent to the Small cluster. */
  readonly smallShare: number;
  /**
   * `query_max_cpu_time` of every execution (e.g. `"3s"`, the heavy threshold): a query past it
   * fails with `EXCEEDED_CPU_LIMIT` (a resource failure, so heavy, as it is by CPU anyway)
   * instead of burning up to 90 s on Large or 5 s on Small; empty for no cap.
   */
  readonly cpuCap?: string;
  /** Name of the {@linkcode MIXES} entry (default `base`). */
  readonly mix?: string;
}

/** Generates a deterministic plan: every shape at every scale, shuffled. */
export function generateRandomPlan(options: RandomPlanOptions): RandomQuery[] {
  const r = new Rng(options.seed);
  const mix = MIXES[options.mix ?? "base"];
  if (!mix) throw new Error(`unknown mix ${options.mix}; known: ${Object.keys(MIXES).join(", ")}`);
  // Executions of the first mix carry no `mix` key (the log's first chunks were made so).
  const mixInfo = mix.name === "base" ? {} : { mix: mix.name };
  const plan: Array<Omit<RandomQuery, "seq">> = [];
  for (let i = 0; i < options.shapes; i++) {
    const shape = generateShape(r, mix);
    const id = `r${options.seed}-${i}`;
    for (const scale of SCALES) {
      const [catalog, schema] = session(r, shape.catalog, scale);
      const cluster = r.chance(options.smallShare) ? "small" : "large";
      const tags = TAGS.filter(() => r.chance(0.15));
      plan.push({
        template: shape.family,
        family: shape.family,
        shape: id,
        scale,
        shapeCatalog: shape.catalog,
        cluster,
        sql: renderShape(r, shape, scale, catalog, schema),
        user: r.pick(USERS),
        source: r.pick(SOURCES),
        catalog,
        schema,
        clientTags: tags,
        clientInfo: JSON.stringify({
          generator: GENERATOR,
          ...mixInfo,
          family: shape.family,
          shape: id,
        }),
        sessionProperties: options.cpuCap ? { query_max_cpu_time: options.cpuCap } : {},
      });
    }
  }
  // Fisher–Yates, so a shape's two scales do not run back to back.
  for (let i = plan.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [plan[i], plan[j]] = [plan[j], plan[i]];
  }
  return plan.map((q, seq) => ({ seq, ...q }));
}
