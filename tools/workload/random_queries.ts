/**
 * Random query generator ("random-v1"): seeded, valid Trino SELECTs built from the `tpch` and
 * `tpcds` catalogs' own schemas (`random_schema.json`, see `introspect_schema.ts`) rather than
 * from hand-written templates — joins of 1–10 tables along real key relationships (tpch foreign
 * keys, tpcds `*_sk` keys) and some without, nested subqueries, CTEs referenced several times,
 * aggregations over high- and low-cardinality keys, window functions, DISTINCT, set operations,
 * ORDER BY with and without LIMIT, selective and non-selective predicates. The `analyst` mix
 * writes long reporting SQL instead: star joins in CTEs read several times (year over year,
 * channels UNION ALLed, a CTE against its own average, CTE chains, entity profiles).
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
export const MIXES: Readonly<Record<string, Mix | AnalystMix>> = {
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
  analyst: {
    name: "analyst",
    recipes: [["star", 3], ["yoy", 3], ["channel", 2.5], ["outlier", 2], ["chain", 2], [
      "profile",
      2,
    ]],
    fanShare: 0.15,
    noLimitShare: 0.2,
  },
};

/** A generated shape: SQL with table markers, its catalog and recipe. */
export interface Shape {
  readonly sql: string;
  readonly catalog: string;
  readonly family: string;
}

/** Generates one shape. */
export function generateShape(r: Rng, mix: Mix | AnalystMix = MIXES.base): Shape {
  if ("recipes" in mix) return analystShape(r, mix);
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

// ---------------------------------------------------------------------------------------------
// The `analyst` recipe: long reporting SQL in the style of a BI analyst (star joins in CTEs that
// are read several times), not single random blocks. Written for this project; no benchmark
// query text is used, only the tables and their key edges.

/** A grouping attribute: `expr` with `$` for the table's alias, output as `name`. */
interface Attr {
  readonly expr: string;
  readonly name: string;
}

/** A dimension of the analyst recipe: alias, grouping attributes, filters. */
interface DimSpec {
  readonly alias: string;
  readonly attrs: readonly Attr[];
  /** Predicates keeping a small share of the dimension (`$` = alias). */
  readonly selective: ReadonlyArray<(r: Rng) => string>;
  /** Predicates keeping most of it. */
  readonly broad: ReadonlyArray<(r: Rng) => string>;
}

/** A fact table of the analyst recipe. */
interface FactSpec {
  readonly alias: string;
  /** Channel name in UNION ALL reports. */
  readonly label: string;
  /** Money measures (`$` = alias). */
  readonly amounts: readonly string[];
  readonly qty: string;
  /** The fact's key to its entity (customer or supplier) and that entity's table. */
  readonly entity?: { readonly col: string; readonly table: string };
  /** Year of the fact row when the fact carries its own date (tpch); tpcds uses `date_dim`. */
  readonly yr?: string;
  /** Attributes of the fact row itself. */
  readonly attrs?: readonly Attr[];
}

const a = (expr: string, name: string): Attr => ({ expr, name });
const pickN = (r: Rng, items: readonly string[], lo: number, hi: number) => {
  const pool = [...items];
  const out: string[] = [];
  for (let n = r.int(lo, Math.min(hi, pool.length)); n > 0; n--) {
    out.push(pool.splice(r.int(0, pool.length - 1), 1)[0]);
  }
  return out;
};
const inList = (r: Rng, expr: string, values: readonly string[], lo: number, hi: number) =>
  `${expr} IN (${pickN(r, values, lo, hi).map((v) => `'${v}'`).join(", ")})`;

const CATEGORIES = [
  "Books",
  "Children",
  "Electronics",
  "Home",
  "Jewelry",
  "Men",
  "Music",
  "Shoes",
  "Sports",
  "Women",
];
const STATES = ["CA", "TX", "GA", "IL", "KY", "MI", "NY", "OH", "TN", "VA", "WA", "IA", "MO"];
const EDUCATION = [
  "Primary",
  "Secondary",
  "College",
  "2 yr Degree",
  "4 yr Degree",
  "Advanced Degree",
];
const BUY_POTENTIAL = [">10000", "5001-10000", "1001-5000", "501-1000", "0-500", "Unknown"];
const COLORS = ["red", "blue", "green", "navy", "olive", "plum", "khaki", "white", "black"];
const SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"];
const REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"];
const NATIONS = [
  "BRAZIL",
  "CANADA",
  "CHINA",
  "EGYPT",
  "FRANCE",
  "GERMANY",
  "INDIA",
  "JAPAN",
  "KENYA",
];
const PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
const CONTAINERS = ["SM BOX", "MED BAG", "LG CASE", "JUMBO PKG", "WRAP DRUM", "SM PACK"];

/** Dimensions and facts of each catalog for the analyst recipe (columns checked by a test). */
const ANALYST: Record<
  string,
  { readonly dims: Record<string, DimSpec>; readonly facts: Record<string, FactSpec> }
> = {
  tpcds: {
    dims: {
      date_dim: {
        alias: "d",
        attrs: [
          a("$.d_year", "yr"),
          a("$.d_moy", "moy"),
          a("$.d_qoy", "qoy"),
          a("$.d_day_name", "day_name"),
        ],
        selective: [
          (r) => `$.d_year = ${r.int(1998, 2002)} AND $.d_moy = ${r.int(1, 12)}`,
          (r) => `$.d_year = ${r.int(1998, 2002)} AND $.d_qoy = ${r.int(1, 4)}`,
          (r) => {
            const m = String(r.int(1, 12)).padStart(2, "0");
            return `$.d_date BETWEEN DATE '${r.int(1998, 2002)}-${m}-01' AND DATE '${
              r.int(1998, 2002)
            }-${m}-01' + INTERVAL '30' DAY`;
          },
        ],
        broad: [
          (r) => `$.d_year = ${r.int(1998, 2002)}`,
          (r) => {
            const y = r.int(1998, 2001);
            return `$.d_year BETWEEN ${y} AND ${y + r.int(1, 2)}`;
          },
          () => `$.d_year >= 1999`,
        ],
      },
      item: {
        alias: "i",
        attrs: [
          a("$.i_category", "category"),
          a("$.i_class", "class"),
          a("$.i_brand", "brand"),
          a("$.i_manufact_id", "manufact_id"),
          a("$.i_item_id", "item_id"),
        ],
        selective: [
          (r) => inList(r, "$.i_category", CATEGORIES, 1, 2),
          (r) => inList(r, "$.i_color", COLORS, 1, 3),
          (r) => {
            const m = r.int(1, 90);
            return `$.i_manager_id BETWEEN ${m} AND ${m + r.int(2, 10)}`;
          },
        ],
        broad: [
          (r) => `$.i_current_price > ${r.pick([1, 5, 10])}`,
          (r) => `$.i_category <> '${r.pick(CATEGORIES)}'`,
          (r) => inList(r, "$.i_category", CATEGORIES, 4, 7),
        ],
      },
      store: {
        alias: "s",
        attrs: [
          a("$.s_store_name", "store_name"),
          a("$.s_state", "store_state"),
          a("$.s_city", "store_city"),
        ],
        selective: [(r) => `$.s_number_employees BETWEEN 200 AND ${r.int(220, 260)}`],
        broad: [(r) => inList(r, "$.s_state", STATES, 3, 6), () => `$.s_closed_date_sk IS NULL`],
      },
      customer: {
        alias: "c",
        attrs: [
          a("$.c_birth_country", "birth_country"),
          a("$.c_preferred_cust_flag", "preferred"),
          a("$.c_birth_year", "birth_year"),
        ],
        selective: [(r) => {
          const y = r.int(1930, 1985);
          return `$.c_birth_year BETWEEN ${y} AND ${y + r.int(1, 4)}`;
        }, (r) => `$.c_birth_month = ${r.int(1, 12)}`],
        broad: [() => `$.c_preferred_cust_flag = 'Y'`, () => `$.c_birth_year > 1930`],
      },
      customer_address: {
        alias: "ca",
        attrs: [a("$.ca_state", "state"), a("$.ca_city", "city"), a("$.ca_county", "county")],
        selective: [
          (r) => inList(r, "$.ca_state", STATES, 1, 3),
          (r) => `$.ca_gmt_offset = ${r.pick([-6, -7, -8])}`,
        ],
        broad: [
          () => `$.ca_country = 'United States'`,
          (r) => inList(r, "$.ca_state", STATES, 6, 12),
        ],
      },
      customer_demographics: {
        alias: "cd",
        attrs: [
          a("$.cd_gender", "gender"),
          a("$.cd_marital_status", "marital_status"),
          a("$.cd_education_status", "education"),
          a("$.cd_credit_rating", "credit_rating"),
        ],
        selective: [
          (r) =>
            `$.cd_gender = '${r.pick(["M", "F"])}' AND $.cd_marital_status = '${
              r.pick(["S", "M", "D", "W", "U"])
            }'`,
          (r) =>
            `$.cd_education_status = '${r.pick(EDUCATION)}' AND $.cd_dep_count = ${r.int(0, 6)}`,
        ],
        broad: [(r) => inList(r, "$.cd_marital_status", ["S", "M", "D", "W", "U"], 2, 4)],
      },
      household_demographics: {
        alias: "hd",
        attrs: [
          a("$.hd_buy_potential", "buy_potential"),
          a("$.hd_dep_count", "dep_count"),
          a("$.hd_vehicle_count", "vehicles"),
        ],
        selective: [
          (r) => `$.hd_dep_count = ${r.int(0, 9)} AND $.hd_vehicle_count = ${r.int(0, 4)}`,
        ],
        broad: [
          (r) => inList(r, "$.hd_buy_potential", BUY_POTENTIAL, 2, 4),
          () => `$.hd_vehicle_count >= 0`,
        ],
      },
      promotion: {
        alias: "p",
        attrs: [
          a("$.p_channel_email", "via_email"),
          a("$.p_channel_tv", "via_tv"),
          a("$.p_promo_name", "promo"),
        ],
        selective: [() => `$.p_channel_dmail = 'Y' AND $.p_channel_tv = 'N'`],
        broad: [() => `$.p_channel_email = 'N' OR $.p_channel_event = 'N'`],
      },
      time_dim: {
        alias: "t",
        attrs: [a("$.t_hour", "hour"), a("$.t_shift", "shift"), a("$.t_meal_time", "meal_time")],
        selective: [(r) => `$.t_hour = ${r.int(8, 20)} AND $.t_minute < 30`],
        broad: [(r) => `$.t_hour BETWEEN ${r.int(6, 9)} AND ${r.int(17, 21)}`],
      },
      warehouse: {
        alias: "w",
        attrs: [a("$.w_warehouse_name", "warehouse"), a("$.w_state", "warehouse_state")],
        selective: [(r) => `$.w_warehouse_sq_ft > ${r.pick([500000, 800000])}`],
        broad: [() => `$.w_warehouse_sq_ft > 0`],
      },
      ship_mode: {
        alias: "sm",
        attrs: [a("$.sm_type", "ship_type"), a("$.sm_carrier", "carrier")],
        selective: [
          (r) =>
            `$.sm_type = '${
              r.pick(["EXPRESS", "OVERNIGHT", "REGULAR", "TWO DAY", "LIBRARY", "NEXT DAY"])
            }'`,
        ],
        broad: [() => `$.sm_code <> 'SEA'`],
      },
      call_center: {
        alias: "cc",
        attrs: [a("$.cc_name", "call_center"), a("$.cc_class", "cc_class")],
        selective: [(r) => `$.cc_employees < ${r.int(2, 4)}`],
        broad: [() => `$.cc_call_center_sk > 0`],
      },
      web_site: {
        alias: "web",
        attrs: [a("$.web_name", "site"), a("$.web_company_name", "site_company")],
        selective: [(r) => `$.web_company_id = ${r.int(1, 6)}`],
        broad: [() => `$.web_site_sk > 0`],
      },
      income_band: {
        alias: "ib",
        attrs: [a("$.ib_lower_bound", "income_from")],
        selective: [(r) => `$.ib_lower_bound >= ${r.pick([100000, 150000])}`],
        broad: [() => `$.ib_upper_bound > 10000`],
      },
    },
    facts: {
      store_sales: {
        alias: "ss",
        label: "store",
        amounts: ["$.ss_net_paid", "$.ss_ext_sales_price", "$.ss_net_profit"],
        qty: "$.ss_quantity",
        entity: { col: "$.ss_customer_sk", table: "customer" },
      },
      catalog_sales: {
        alias: "cs",
        label: "catalog",
        amounts: ["$.cs_net_paid", "$.cs_ext_sales_price", "$.cs_net_profit"],
        qty: "$.cs_quantity",
        entity: { col: "$.cs_bill_customer_sk", table: "customer" },
      },
      web_sales: {
        alias: "ws",
        label: "web",
        amounts: ["$.ws_net_paid", "$.ws_ext_sales_price", "$.ws_net_profit"],
        qty: "$.ws_quantity",
        entity: { col: "$.ws_bill_customer_sk", table: "customer" },
      },
      store_returns: {
        alias: "sr",
        label: "store_returns",
        amounts: ["$.sr_return_amt", "$.sr_net_loss"],
        qty: "$.sr_return_quantity",
        entity: { col: "$.sr_customer_sk", table: "customer" },
      },
      catalog_returns: {
        alias: "cr",
        label: "catalog_returns",
        amounts: ["$.cr_return_amount", "$.cr_net_loss"],
        qty: "$.cr_return_quantity",
        entity: { col: "$.cr_returning_customer_sk", table: "customer" },
      },
      web_returns: {
        alias: "wr",
        label: "web_returns",
        amounts: ["$.wr_return_amt", "$.wr_net_loss"],
        qty: "$.wr_return_quantity",
        entity: { col: "$.wr_returning_customer_sk", table: "customer" },
      },
      inventory: {
        alias: "inv",
        label: "inventory",
        amounts: ["$.inv_quantity_on_hand"],
        qty: "$.inv_quantity_on_hand",
      },
    },
  },
  tpch: {
    dims: {
      orders: {
        alias: "o",
        attrs: [
          a("$.orderpriority", "priority"),
          a("$.orderstatus", "status"),
          a("year($.orderdate)", "order_year"),
        ],
        selective: [(r) => {
          const y = r.int(1992, 1998), m = String(r.int(1, 12)).padStart(2, "0");
          return `$.orderdate >= DATE '${y}-${m}-01' AND $.orderdate < DATE '${y}-${m}-01' + INTERVAL '${
            r.int(1, 3)
          }' MONTH`;
        }],
        broad: [
          (r) => `$.orderdate >= DATE '${r.int(1992, 1995)}-01-01'`,
          (r) => inList(r, "$.orderpriority", PRIORITIES, 2, 4),
        ],
      },
      customer: {
        alias: "c",
        attrs: [a("$.mktsegment", "segment"), a("$.name", "customer_name")],
        selective: [
          (r) =>
            `$.mktsegment = '${r.pick(SEGMENTS)}' AND $.acctbal > ${r.pick([5000, 8000, 9000])}`,
        ],
        broad: [(r) => `$.mktsegment <> '${r.pick(SEGMENTS)}'`, () => `$.acctbal > 0`],
      },
      nation: {
        alias: "n",
        attrs: [a("$.name", "nation")],
        selective: [(r) => inList(r, "$.name", NATIONS, 1, 2)],
        broad: [(r) => inList(r, "$.name", NATIONS, 4, 8)],
      },
      region: {
        alias: "r",
        attrs: [a("$.name", "region")],
        selective: [(r) => `$.name = '${r.pick(REGIONS)}'`],
        broad: [(r) => `$.name <> '${r.pick(REGIONS)}'`],
      },
      part: {
        alias: "p",
        attrs: [
          a("$.brand", "brand"),
          a("$.mfgr", "mfgr"),
          a("$.container", "container"),
          a("$.size", "size"),
        ],
        selective: [
          (r) => `$.brand = 'Brand#${r.int(1, 5)}${r.int(1, 5)}'`,
          (r) => inList(r, "$.container", CONTAINERS, 1, 2),
          (r) =>
            `$.type LIKE '%${r.pick(["TIN", "NICKEL", "BRASS", "STEEL", "COPPER"])}' AND $.size < ${
              r.int(5, 15)
            }`,
        ],
        broad: [(r) => `$.size BETWEEN 1 AND ${r.int(25, 50)}`, () => `$.retailprice > 950`],
      },
      supplier: {
        alias: "s",
        attrs: [a("$.name", "supplier_name")],
        selective: [(r) => `$.acctbal > ${r.pick([8000, 9000, 9500])}`],
        broad: [() => `$.acctbal > 0`, () => `$.comment NOT LIKE '%Complaints%'`],
      },
    },
    facts: {
      lineitem: {
        alias: "l",
        label: "shipped",
        amounts: ["$.extendedprice * (1 - $.discount)", "$.extendedprice", "$.quantity * $.tax"],
        qty: "$.quantity",
        entity: { col: "$.suppkey", table: "supplier" },
        yr: "year($.shipdate)",
        attrs: [
          a("$.shipmode", "shipmode"),
          a("$.returnflag", "returnflag"),
          a("$.linestatus", "linestatus"),
        ],
      },
      orders: {
        alias: "o",
        label: "ordered",
        amounts: ["$.totalprice"],
        qty: "$.shippriority + 1",
        entity: { col: "$.custkey", table: "customer" },
        yr: "year($.orderdate)",
        attrs: [a("$.orderpriority", "priority"), a("$.orderstatus", "status")],
      },
      partsupp: {
        alias: "ps",
        label: "stocked",
        amounts: ["$.supplycost * $.availqty"],
        qty: "$.availqty",
        entity: { col: "$.suppkey", table: "supplier" },
      },
    },
  },
};

/** Non-key join conditions an analyst gets wrong: `[new table, column, joined table, column]`. */
const FAN_PAIRS: Record<string, ReadonlyArray<readonly [string, string, string, string]>> = {
  tpcds: [
    ["customer_address", "ca_state", "store", "s_state"],
    ["store", "s_state", "customer_address", "ca_state"],
    ["customer_address", "ca_city", "store", "s_city"],
    ["household_demographics", "hd_dep_count", "customer_demographics", "cd_dep_count"],
    ["customer_demographics", "cd_dep_count", "household_demographics", "hd_dep_count"],
    ["customer", "c_birth_year", "date_dim", "d_year"],
    ["date_dim", "d_year", "customer", "c_birth_year"],
  ],
  tpch: [
    ["supplier", "nationkey", "customer", "nationkey"],
    ["customer", "nationkey", "supplier", "nationkey"],
  ],
};

/**
 * The `analyst` mix: long reporting SQL (see {@linkcode analystShape}) instead of the random
 * single-block shapes of {@linkcode Mix}.
 */
export interface AnalystMix {
  readonly name: string;
  /** Weights of the recipes (`star`, `yoy`, `channel`, `outlier`, `chain`, `profile`). */
  readonly recipes: ReadonlyArray<readonly [string, number]>;
  /** Share of queries with one fan-out mistake (a non-key or missing join condition). */
  readonly fanShare: number;
  /** Share of final SELECTs without LIMIT. */
  readonly noLimitShare: number;
}

interface Block {
  readonly sql: string;
  /** Output names of the group keys. */
  readonly keys: readonly string[];
  /** Their expressions (valid in the block's own SELECT). */
  readonly keyExprs: readonly string[];
  /** Output names of the measures (`amount` always first). */
  readonly measures: readonly string[];
  /** The summed money expression. */
  readonly amount: string;
}

const fill = (template: string, alias: string) => template.replaceAll("$", alias);

/** Builds one analyst shape. */
class AnalystBuilder {
  readonly tags = new Set<string>();
  #fanPending: boolean;
  readonly spec: (typeof ANALYST)[string];
  constructor(readonly r: Rng, readonly catalog: string, readonly w: AnalystMix) {
    this.spec = ANALYST[catalog];
    this.#fanPending = r.chance(w.fanShare);
  }

  /** Dimension tables reachable from `from` along key edges (foreign key → primary key). */
  reachable(from: string): string[] {
    const seen = new Set([from]);
    const queue = [from];
    while (queue.length) {
      const t = queue.shift()!;
      for (const e of EDGES[this.catalog]) {
        if (e.a === t && e.b in this.spec.dims && !seen.has(e.b)) {
          seen.add(e.b);
          queue.push(e.b);
        }
      }
    }
    seen.delete(from);
    return [...seen];
  }

  /**
   * FROM clause: `root` joined to each of `targets` along the shortest key path (edges from
   * the root first); once per query, a fan-out mistake replaces one join condition.
   */
  from(root: string, targets: readonly string[]): { sql: string; joined: string[] } {
    const alias = (t: string) => (this.spec.facts[t] ?? this.spec.dims[t]).alias;
    const joined = [root];
    let sql = `${marker(this.catalog, root)} ${alias(root)}`;
    for (const target of targets) {
      if (joined.includes(target)) continue;
      // Breadth-first from the joined tables, in join order, to the target.
      const prev = new Map<string, Edge>();
      const queue = [...joined];
      const seen = new Set(joined);
      while (queue.length && !seen.has(target)) {
        const t = queue.shift()!;
        for (const e of EDGES[this.catalog]) {
          if (e.a === t && e.b in this.spec.dims && !seen.has(e.b)) {
            seen.add(e.b);
            prev.set(e.b, e);
            queue.push(e.b);
          }
        }
      }
      if (!seen.has(target)) continue;
      const path: Edge[] = [];
      for (let t = target; prev.has(t); t = prev.get(t)!.a) path.unshift(prev.get(t)!);
      for (const e of path) {
        const [ta, tb] = [alias(e.a), alias(e.b)];
        let join = `JOIN ${marker(this.catalog, e.b)} ${tb} ON ${
          e.pairs.map(([ca, cb]) => `${ta}.${ca} = ${tb}.${cb}`).join(" AND ")
        }`;
        if (this.#fanPending) {
          // Either a join on a shared non-key attribute, or the condition forgotten.
          const pair = FAN_PAIRS[this.catalog].find(([t, , o]) => t === e.b && joined.includes(o));
          join = pair
            ? `JOIN ${marker(this.catalog, e.b)} ${tb} ON ${tb}.${pair[1]} = ${alias(pair[2])}.${
              pair[3]
            }`
            : `CROSS JOIN ${marker(this.catalog, e.b)} ${tb}`;
          this.#fanPending = false;
          this.tags.add("fan");
        }
        sql += `\n${join}`;
        joined.push(e.b);
      }
    }
    return { sql, joined };
  }

  /** `lo`–`hi` predicates on the joined dimensions, about half of them selective. */
  filters(joined: readonly string[], lo = 1, hi = 3): string[] {
    // One predicate per dimension: two on the same attribute would mostly contradict.
    const dims = joined.filter((t) => t in this.spec.dims);
    return pickN(this.r, dims, Math.min(lo, dims.length), hi).map((t) => {
      const d = this.spec.dims[t];
      const pool = this.r.chance(0.5) ? d.selective : d.broad;
      return `(${fill(this.r.pick(pool)(this.r), d.alias)})`;
    });
  }

  /** Candidate grouping attributes of a FROM (the fact's own and its dimensions'). */
  attrs(joined: readonly string[]): Attr[] {
    return joined.flatMap((t) => {
      const f = this.spec.facts[t];
      const d = this.spec.dims[t];
      const own = f && t === joined[0] ? f.attrs ?? [] : d?.attrs ?? [];
      const al = (f && t === joined[0] ? f : d).alias;
      return own.map((x) => a(fill(x.expr, al), x.name));
    });
  }

  /**
   * One star-join aggregate: `fact` with its dimensions, filters, GROUP BY `keys`, and the
   * `measures` (kinds: amount, qty, cnt, buyers, avg_amount).
   */
  block(
    fact: string,
    from: { sql: string },
    keys: readonly Attr[],
    measures: readonly string[],
    filters: readonly string[],
    amountIndex: number,
  ): Block {
    const f = this.spec.facts[fact];
    const amount = fill(f.amounts[amountIndex % f.amounts.length], f.alias);
    const exprs: Record<string, string> = {
      amount: `sum(${amount})`,
      qty: `sum(${fill(f.qty, f.alias)})`,
      cnt: "count(*)",
      buyers: f.entity ? `count(DISTINCT ${fill(f.entity.col, f.alias)})` : "count(*)",
      avg_amount: `avg(${amount})`,
    };
    const outs = [
      ...keys.map((k) => `${k.expr} AS ${k.name}`),
      ...measures.map((m) => `${exprs[m]} AS ${m}`),
    ];
    if (measures.includes("buyers")) this.tags.add("cdist");
    const where = filters.length ? `\nWHERE ${filters.join("\n  AND ")}` : "";
    const group = keys.length ? `\nGROUP BY ${keys.map((k) => k.expr).join(", ")}` : "";
    return {
      sql: `SELECT ${outs.join(", ")}\nFROM ${from.sql}${where}${group}`,
      keys: keys.map((k) => k.name),
      keyExprs: keys.map((k) => k.expr),
      measures,
      amount,
    };
  }

  /** Measure kinds: amount plus 0–3 others. */
  measureKinds(): string[] {
    return ["amount", ...pickN(this.r, ["qty", "cnt", "buyers", "avg_amount"], 0, 3)];
  }

  /** A star block over `fact` with 1–4 dimensions and 1–`maxKeys` keys (`yr` first if asked). */
  star(fact: string, opts: { minDims?: number; maxDims?: number; yr?: boolean; maxKeys?: number }) {
    const r = this.r;
    const f = this.spec.facts[fact];
    const reach = this.reachable(fact);
    const dims = pickN(r, reach, Math.min(opts.minDims ?? 1, reach.length), opts.maxDims ?? 4);
    const keys: Attr[] = [];
    if (opts.yr) {
      if (f.yr) keys.push(a(fill(f.yr, f.alias), "yr"));
      else {
        if (!dims.includes("date_dim")) dims.unshift("date_dim");
        keys.push(a("d.d_year", "yr"));
      }
    }
    const from = this.from(fact, dims);
    const pool = this.attrs(from.joined).filter((x) => !keys.some((k) => k.name === x.name));
    const names = pickN(
      r,
      [...new Set(pool.map((x) => x.name))],
      1,
      (opts.maxKeys ?? 3) - keys.length,
    );
    keys.push(...names.map((n) => pool.find((x) => x.name === n)!));
    let filters = this.filters(from.joined);
    if (opts.yr && !f.yr) {
      // Year-over-year needs several years: keep the date filter broad.
      const y = r.int(1998, 2000);
      filters = [
        `(d.d_year BETWEEN ${y} AND ${y + r.int(1, 2)})`,
        ...filters.filter((p) => !p.includes("d.d_")),
      ];
    }
    if (r.chance(0.2)) filters.push(this.semiJoin(fact));
    return this.block(fact, from, keys, this.measureKinds(), filters, r.int(0, 2));
  }

  /** `fk IN (SELECT key FROM dim WHERE selective)`: a dimension filter written as a subquery. */
  semiJoin(fact: string): string {
    const f = this.spec.facts[fact];
    const edges = EDGES[this.catalog].filter((e) => e.a === fact && e.b in this.spec.dims);
    const e = this.r.pick(edges);
    const d = this.spec.dims[e.b];
    this.tags.add("semi");
    return `${f.alias}.${e.pairs[0][0]} IN (SELECT x.${e.pairs[0][1]} FROM ${
      marker(this.catalog, e.b)
    } x WHERE ${fill(this.r.pick(d.selective)(this.r), "x")})`;
  }

  /** ORDER BY … LIMIT 100 mostly; sometimes no LIMIT. */
  order(keys: readonly string[]): string {
    if (this.r.chance(this.w.noLimitShare)) {
      this.tags.add("nolim");
      return `\nORDER BY ${keys.join(", ")}`;
    }
    this.tags.add("lim");
    return `\nORDER BY ${keys.join(", ")}\nLIMIT ${
      this.r.weighted([[100, 6], [10, 1], [50, 1], [1000, 1]] as const)
    }`;
  }
}

const indent = (sql: string) => sql.split("\n").map((l) => `  ${l}`).join("\n");
const ctes = (parts: ReadonlyArray<readonly [string, string]>) =>
  `WITH ${parts.map(([n, s]) => `${n} AS (\n${indent(s)}\n)`).join(", ")}\n`;

/** Generates one shape of the analyst recipe. */
function analystShape(r: Rng, w: AnalystMix): Shape {
  const catalog = r.pick(Object.keys(ANALYST).sort());
  const b = new AnalystBuilder(r, catalog, w);
  const spec = ANALYST[catalog];
  const facts = Object.keys(spec.facts);
  const recipe = r.weighted(w.recipes);
  let sql: string;
  let nCtes = 0;
  switch (recipe) {
    case "star": {
      // A plain report: fact + 3–6 dimensions, no CTE.
      const fact = r.pick(facts.filter((f) => b.reachable(f).length >= 3));
      const blk = b.star(fact, { minDims: 3, maxDims: 6, maxKeys: 4 });
      sql = blk.sql;
      if (r.chance(0.4)) {
        b.tags.add("win");
        const part = blk.keyExprs.length > 1 ? `PARTITION BY ${blk.keyExprs[0]} ` : "";
        sql = sql.replace(
          "\nFROM ",
          `,\n       rank() OVER (${part}ORDER BY sum(${blk.amount}) DESC) AS rnk\nFROM `,
        );
      }
      if (r.chance(0.4)) sql += `\nHAVING count(*) > ${r.pick([1, 2, 5, 10])}`;
      sql += b.order([`${blk.keys.length + 1} DESC`, "1"]);
      break;
    }
    case "yoy": {
      const fact = r.pick(facts.filter((f) => spec.facts[f].yr || catalog === "tpcds"));
      const y = b.star(fact, { yr: true, maxDims: 3, maxKeys: 4 });
      const ks = y.keys.filter((k) => k !== "yr");
      const on = [...ks.map((k) => `cur.${k} = prev.${k}`), "cur.yr = prev.yr + 1"].join(" AND ");
      const parts: Array<readonly [string, string]> = [["yearly", y.sql]];
      parts.push([
        "growth",
        `SELECT cur.yr, ${
          ks.map((k) => `cur.${k}`).join(", ")
        }, cur.amount, prev.amount AS prev_amount,\n` +
        `       cast(cur.amount AS double) / nullif(prev.amount, 0) - 1 AS growth\n` +
        `FROM yearly cur\n${r.pick(["JOIN", "LEFT JOIN"])} yearly prev ON ${on}`,
      ]);
      const rank = `rank() OVER (PARTITION BY yr ORDER BY growth DESC)`;
      b.tags.add("win");
      if (r.chance(0.5)) {
        parts.push([
          "ranked",
          `SELECT g.*, ${rank} AS rnk,\n       avg(amount) OVER (PARTITION BY ${
            ks[0]
          }) AS key_avg\nFROM growth g`,
        ]);
        sql = ctes(parts) +
          `SELECT yr, ${ks.join(", ")}, amount, growth, rnk,\n` +
          `       CASE WHEN amount > key_avg THEN 'above' ELSE 'below' END AS band\nFROM ranked\nWHERE rnk <= ${
            r.pick([3, 5, 10, 20])
          }` +
          b.order(["yr", "rnk"]);
      } else {
        const having = r.chance(0.5);
        sql = ctes(parts) +
          `SELECT yr, ${ks.join(", ")}, amount, growth, ${rank} AS rnk\nFROM growth\nWHERE ${
            having ? "growth > 0" : "prev_amount IS NOT NULL"
          }` +
          (r.chance(0.3)
            ? `\n  AND ${ks[0]} IN (SELECT ${ks[0]} FROM yearly WHERE amount > 0)`
            : "") +
          b.order(["yr", "growth DESC"]);
      }
      nCtes = parts.length;
      break;
    }
    case "channel": {
      // The same report over 2–3 fact tables, UNION ALLed.
      const pool = catalog === "tpcds"
        ? r.chance(0.75)
          ? ["store_sales", "catalog_sales", "web_sales"]
          : ["store_returns", "catalog_returns", "web_returns"]
        : ["lineitem", "orders", "partsupp"];
      const chosen = pickN(r, pool, 2, 3);
      const shared = chosen.map((f) => b.reachable(f)).reduce((x, y) =>
        x.filter((t) => y.includes(t))
      );
      const dims = pickN(r, shared, Math.min(1, shared.length), 3);
      const keyPool = dims.flatMap((t) =>
        spec.dims[t].attrs.map((x) => a(fill(x.expr, spec.dims[t].alias), x.name))
      );
      const keyNames = pickN(r, [...new Set(keyPool.map((x) => x.name))], 1, 3);
      const keys = keyNames.map((n) => keyPool.find((x) => x.name === n)!);
      const measures = ["amount", ...pickN(r, ["qty", "cnt", "buyers"], 0, 2)];
      const filters = b.filters(dims, 0, 2);
      const amountIndex = r.int(0, 2);
      const parts: Array<readonly [string, string]> = chosen.map((f) => [
        `${spec.facts[f].label}_part`,
        b.block(f, b.from(f, dims), keys, measures, filters, amountIndex).sql,
      ]);
      const cols = [...keyNames, ...measures].join(", ");
      parts.push([
        "all_channels",
        chosen.map((f) =>
          `SELECT '${spec.facts[f].label}' AS channel, ${cols} FROM ${spec.facts[f].label}_part`
        )
          .join("\nUNION ALL\n"),
      ]);
      if (r.chance(0.5)) {
        b.tags.add("win");
        sql = ctes(parts) +
          `SELECT channel, ${keyNames.join(", ")}, sum(amount) AS amount,\n` +
          `       rank() OVER (PARTITION BY channel ORDER BY sum(amount) DESC) AS rnk,\n` +
          `       sum(sum(amount)) OVER (PARTITION BY ${keyNames[0]}) AS key_total\n` +
          `FROM all_channels\nGROUP BY channel, ${keyNames.join(", ")}` +
          (r.chance(0.4) ? `\nHAVING sum(amount) > 0` : "") + b.order(["channel", "rnk"]);
      } else {
        const pivot = chosen.map((f) => {
          const l = spec.facts[f].label;
          return `sum(CASE WHEN channel = '${l}' THEN amount ELSE 0 END) AS ${l}_amount`;
        });
        const exists = r.chance(0.35)
          ? `\nWHERE EXISTS (SELECT 1 FROM ${spec.facts[chosen[0]].label}_part x WHERE x.${
            keyNames[0]
          } = a.${keyNames[0]} AND x.amount > 0)`
          : "";
        if (exists) b.tags.add("semi");
        sql = ctes(parts) +
          `SELECT ${keyNames.map((k) => `a.${k}`).join(", ")}, ${
            pivot.join(", ")
          }, sum(amount) AS total\n` +
          `FROM all_channels a${exists}\nGROUP BY ${keyNames.map((k) => `a.${k}`).join(", ")}` +
          b.order(["total DESC", "1"]);
      }
      nCtes = parts.length;
      break;
    }
    case "outlier": {
      // A CTE compared with an aggregate of itself.
      const fact = r.pick(facts);
      const t = b.star(fact, { maxDims: 4, maxKeys: 4 });
      const k = t.keys[0];
      const parts: Array<readonly [string, string]> = [["totals", t.sql]];
      const avgCte = r.chance(0.5);
      if (avgCte) {
        parts.push([
          "key_avg",
          `SELECT ${k}, avg(amount) AS avg_amount, count(*) AS members\nFROM totals\nGROUP BY ${k}`,
        ]);
      }
      const sub = t.keys.length > 1 && r.chance(0.6)
        ? `(SELECT avg(x.amount) FROM totals x WHERE x.${k} = t.${k})`
        : `(SELECT avg(amount) FROM totals)`;
      const win = r.chance(0.5);
      if (win) b.tags.add("win");
      sql = ctes(parts) +
        `SELECT ${t.keys.map((x) => `t.${x}`).join(", ")}, t.amount,\n` +
        `       CASE WHEN t.amount > ${
          avgCte ? "2 * ka.avg_amount" : `${r.pick([2, 3])} * ${sub}`
        } THEN 'high' ELSE 'raised' END AS band` +
        (win
          ? `,\n       row_number() OVER (PARTITION BY t.${k} ORDER BY t.amount DESC) AS pos`
          : "") +
        `\nFROM totals t` + (avgCte ? `\nJOIN key_avg ka ON t.${k} = ka.${k}` : "") +
        `\nWHERE t.amount > ${r.pick(["1.2", "1.5"])} * ${sub}` +
        (avgCte && r.chance(0.5) ? `\n  AND ka.members > 1` : "") +
        b.order(["t.amount DESC", "1"]);
      nCtes = parts.length;
      break;
    }
    case "chain": {
      // CTEs reading earlier CTEs: detail → rollup (→ top level) → share of the rollup.
      const fact = r.pick(facts);
      const d = b.star(fact, { maxDims: 4, maxKeys: 4 });
      const parts: Array<readonly [string, string]> = [["detail", d.sql]];
      const ks = d.keys;
      const up = ks.length > 1 ? ks.slice(0, -1) : ks;
      parts.push([
        "rolled",
        `SELECT ${
          up.join(", ")
        }, sum(amount) AS amount, count(*) AS members\nFROM detail\nGROUP BY ${up.join(", ")}`,
      ]);
      const top = r.chance(0.5);
      if (top) {
        parts.push([
          "top_level",
          `SELECT ${up[0]}, sum(amount) AS amount\nFROM rolled\nGROUP BY ${up[0]}`,
        ]);
      }
      parts.push([
        "share",
        `SELECT d.*, cast(d.amount AS double) / nullif(u.amount, 0) AS share, u.members\n` +
        `FROM detail d\nJOIN rolled u ON ${up.map((k) => `d.${k} = u.${k}`).join(" AND ")}`,
      ]);
      b.tags.add("win");
      const cond = top && r.chance(0.6)
        ? `EXISTS (SELECT 1 FROM top_level x WHERE x.${up[0]} = s.${up[0]} AND x.amount > ${
          r.pick([0, 100, 10000])
        })`
        : top
        ? `s.${up[0]} IN (SELECT ${up[0]} FROM top_level WHERE amount > 0)`
        : `s.members > ${r.pick([1, 2])}`;
      if (top) b.tags.add("semi");
      sql = ctes(parts) +
        `SELECT s.*, row_number() OVER (PARTITION BY s.${up[0]} ORDER BY s.share DESC) AS pos,\n` +
        `       CASE WHEN s.share > 0.5 THEN 'dominant' WHEN s.share > 0.1 THEN 'major' ELSE 'minor' END AS weight\n` +
        `FROM share s\nWHERE ${cond}` + b.order(["1", "pos"]);
      nCtes = parts.length;
      break;
    }
    default: {
      // Per-entity totals from 1–3 facts, LEFT JOINed to the entity's profile.
      const entity = r.pick(catalog === "tpcds" ? ["customer"] : ["customer", "supplier"]);
      const own = facts.filter((f) => spec.facts[f].entity?.table === entity);
      const chosen = pickN(r, own, 1, 3);
      const parts: Array<readonly [string, string]> = chosen.map((f) => {
        const fs = spec.facts[f];
        const dims = catalog === "tpcds" ? ["date_dim"] : [];
        const from = b.from(f, dims);
        const filt = b.filters(from.joined, catalog === "tpcds" ? 1 : 0, 1);
        const amount = fill(fs.amounts[0], fs.alias);
        const key = fill(fs.entity!.col, fs.alias);
        return [
          `${fs.label}_by`,
          `SELECT ${key} AS ek, sum(${amount}) AS amount, count(*) AS cnt\nFROM ${from.sql}` +
          (filt.length ? `\nWHERE ${filt.join(" AND ")}` : "") + `\nGROUP BY ${key}`,
        ];
      });
      const reach = b.reachable(entity);
      const dims = pickN(r, reach, Math.min(1, reach.length), 3);
      const from = b.from(entity, dims);
      const ed = spec.dims[entity];
      const attrs = b.attrs(from.joined.slice(1)).concat(
        ed.attrs.filter((x) => x.name !== "customer_name").map((x) =>
          a(fill(x.expr, ed.alias), x.name)
        ),
      );
      const names = pickN(r, [...new Set(attrs.map((x) => x.name))], 1, 3);
      const pk = EDGES[catalog].find((e) => e.b === entity)!.pairs[0][1];
      const amounts = chosen.map((f, i) =>
        `coalesce(f${i}.amount, 0) AS amount_${spec.facts[f].label}`
      );
      parts.push([
        "profile",
        `SELECT ${
          names.map((n) => `${attrs.find((x) => x.name === n)!.expr} AS ${n}`).join(", ")
        }, ${amounts.join(", ")}\n` +
        `FROM ${from.sql}\n` +
        chosen.map((f, i) =>
          `LEFT JOIN ${spec.facts[f].label}_by f${i} ON ${ed.alias}.${pk} = f${i}.ek`
        ).join("\n"),
      ]);
      const sums = chosen.map((f) =>
        `sum(amount_${spec.facts[f].label}) AS amount_${spec.facts[f].label}`
      );
      const any = chosen.map((f) => `amount_${spec.facts[f].label} > 0`).join(" OR ");
      sql = ctes(parts) +
        `SELECT ${names.join(", ")}, count(*) AS members, ${
          sums.join(", ")
        }\nFROM profile\nWHERE ${any}\nGROUP BY ${names.join(", ")}\nHAVING count(*) > ${
          r.pick([1, 3, 10])
        }` + b.order([`${names.length + 2} DESC`, "1"]);
      nCtes = parts.length;
    }
  }
  const family = [
    `an-${recipe}`,
    `c${nCtes}`,
    ...["win", "semi", "cdist", "fan", "nolim"].filter((t) => b.tags.has(t)),
  ]
    .join("-");
  return { sql, catalog, family };
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
