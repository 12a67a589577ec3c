/**
 * Seeded workload generator: varied analytical SQL over Trino's `tpch` and `tpcds` catalogs
 * from our own templates, with users, sources, client tags and a target cluster per query.
 *
 * Usage: `deno run -A tools/workload/generate.ts --count 4500 --seed 42 --out plan.jsonl`
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One planned query: the statement and the session it is sent with. */
export interface PlannedQuery {
  /** Position in the plan. */
  readonly seq: number;
  /** Template that produced it (for diagnostics only; never sent to Trino). */
  readonly template: string;
  /** `large` or `small`: which test cluster runs it. */
  readonly cluster: "large" | "small";
  readonly sql: string;
  readonly user: string;
  readonly source: string;
  readonly catalog: string;
  readonly schema: string;
  readonly clientTags: readonly string[];
  /** `X-Trino-Client-Info` (the random generator's recipe; never a feature). */
  readonly clientInfo?: string;
  /** `X-Trino-Session` properties. */
  readonly sessionProperties?: Readonly<Record<string, string>>;
}

/** A small, fast, seedable PRNG (mulberry32); the same seed gives the same workload. */
export class Rng {
  #state: number;
  /** Multiplier of every template's sf1 share (see {@linkcode DEFAULT_SF1_SCALE}). */
  sf1Scale = 1;
  /** Creates a generator from a 32-bit seed. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** One element. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** One element by weight. */
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return items[items.length - 1][0];
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A query template: returns SQL plus the catalog/schema the session should carry. */
interface Template {
  readonly name: string;
  readonly gen: (r: Rng, ctx: GenContext) => { sql: string; catalog: string; schema: string };
}

interface GenContext {
  /** Unique prefix of memory-catalog tables of this run. */
  readonly runTag: string;
  /** Memory tables created earlier in the plan (INSERT targets). */
  readonly createdTables: string[];
  seq: number;
}

/**
 * Scale factor for a template: `tiny` mostly, `sf1` sometimes. `tpch.sf1` scans of `orders`
 * and `lineitem` cost ~1–20 CPU seconds here (the connector generates rows on the fly); those
 * are this dataset's heavy tail.
 */
function sf(r: Rng, sf1Share: number): string {
  return r.chance(sf1Share * r.sf1Scale) ? "sf1" : "tiny";
}

/**
 * Default scale of every template's sf1 share: calibrated on this 2-core machine so that a
 * 4000-query run spends roughly 20–30 CPU-minutes and ~5% of queries exceed 3 CPU seconds.
 */
export const DEFAULT_SF1_SCALE = 0.45;

function date(r: Rng, fromYear = 1992, toYear = 1998): string {
  const y = r.int(fromYear, toYear);
  const m = String(r.int(1, 12)).padStart(2, "0");
  const d = String(r.int(1, 28)).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

const SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD"];
const PRIORITIES = ["1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"];
const SHIPMODES = ["AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"];
const WORDS = ["special", "pending", "express", "regular", "final", "ironic", "furious", "bold"];
const NATIONS = ["FRANCE", "GERMANY", "BRAZIL", "CHINA", "JAPAN", "KENYA", "PERU", "CANADA"];
const REGIONS = ["AMERICA", "ASIA", "EUROPE", "AFRICA", "MIDDLE EAST"];
const TPCH_TABLES = ["nation", "region", "supplier", "customer", "part", "partsupp", "orders"];
const TPCDS_TABLES = ["item", "store", "customer", "date_dim", "promotion", "warehouse"];

const maxKey = (schema: string, perSf: number) => (schema === "tiny" ? perSf / 100 : perSf);

/** Our own templates. Light ones dominate; sf1 variants and explosions make the heavy tail. */
const TEMPLATES: readonly Template[] = [
  {
    name: "point_lookup_orders",
    gen: (r) => {
      const s = sf(r, 0.12);
      const k = r.int(1, maxKey(s, 6_000_000));
      return {
        sql:
          `SELECT orderkey, custkey, orderstatus, totalprice, orderdate\nFROM orders\nWHERE orderkey = ${k}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "point_lookup_customer",
    gen: (r) => {
      const s = sf(r, 0.5);
      const k = r.int(1, maxKey(s, 150_000));
      return {
        sql:
          `SELECT c.name, c.address, c.phone, c.acctbal, n.name AS nation\nFROM customer c JOIN nation n ON c.nationkey = n.nationkey\nWHERE c.custkey = ${k}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "filtered_scan",
    gen: (r) => {
      const s = sf(r, 0.1);
      const lim = r.pick([10, 50, 100, 500, 1000]);
      return {
        sql:
          `SELECT orderkey, custkey, totalprice, orderpriority\nFROM orders\nWHERE orderdate BETWEEN DATE '${
            date(r)
          }' AND DATE '${date(r, 1998)}'\n  AND totalprice > ${
            r.int(1000, 400000)
          }\n  AND orderpriority = '${r.pick(PRIORITIES)}'\nLIMIT ${lim}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "pricing_summary",
    gen: (r) => {
      const s = sf(r, 0.08);
      return {
        sql:
          `SELECT returnflag, linestatus, sum(quantity) AS qty, sum(extendedprice) AS base,\n  sum(extendedprice * (1 - discount)) AS disc_price, avg(discount) AS avg_disc, count(*) AS n\nFROM lineitem\nWHERE shipdate <= DATE '${
            date(r)
          }'\nGROUP BY returnflag, linestatus\nORDER BY returnflag, linestatus`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "segment_revenue_join3",
    gen: (r) => {
      const s = sf(r, 0.07);
      return {
        sql:
          `SELECT o.orderkey, o.orderdate, sum(l.extendedprice * (1 - l.discount)) AS revenue\nFROM customer c\nJOIN orders o ON c.custkey = o.custkey\nJOIN lineitem l ON l.orderkey = o.orderkey\nWHERE c.mktsegment = '${
            r.pick(SEGMENTS)
          }' AND o.orderdate < DATE '${
            date(r)
          }'\nGROUP BY o.orderkey, o.orderdate\nORDER BY revenue DESC\nLIMIT ${
            r.pick([10, 20, 100])
          }`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "region_join5",
    gen: (r) => {
      const s = sf(r, 0.05);
      return {
        sql:
          `SELECT n.name, count(*) AS orders, sum(o.totalprice) AS total\nFROM region rg\nJOIN nation n ON n.regionkey = rg.regionkey\nJOIN customer c ON c.nationkey = n.nationkey\nJOIN orders o ON o.custkey = c.custkey\nJOIN supplier su ON su.nationkey = n.nationkey AND su.suppkey % 10 = ${
            r.int(0, 9)
          }\nWHERE rg.name = '${r.pick(REGIONS)}'\nGROUP BY n.name\nORDER BY total DESC`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "window_rank",
    gen: (r) => {
      const s = sf(r, 0.07);
      return {
        sql:
          `SELECT * FROM (\n  SELECT custkey, orderkey, totalprice,\n    rank() OVER (PARTITION BY custkey ORDER BY totalprice DESC) AS rnk,\n    sum(totalprice) OVER (PARTITION BY custkey) AS cust_total\n  FROM orders\n  WHERE orderstatus = '${
            r.pick(["F", "O", "P"])
          }'\n) t\nWHERE rnk <= ${r.int(1, 3)}\nORDER BY cust_total DESC\nLIMIT ${
            r.pick([20, 100])
          }`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "running_total",
    gen: (r) => {
      const s = sf(r, 0.15);
      return {
        sql:
          `SELECT nationkey, custkey, acctbal,\n  sum(acctbal) OVER (PARTITION BY nationkey ORDER BY acctbal ROWS UNBOUNDED PRECEDING) AS running,\n  lag(acctbal) OVER (PARTITION BY nationkey ORDER BY acctbal) AS prev\nFROM customer\nWHERE mktsegment = '${
            r.pick(SEGMENTS)
          }'\nORDER BY nationkey, acctbal\nLIMIT ${r.pick([50, 200, 1000])}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "distinct",
    gen: (r) => {
      const s = sf(r, 0.15);
      const col = r.pick(["shipmode", "shipinstruct", "returnflag, linestatus"]);
      return {
        sql: `SELECT DISTINCT ${col}\nFROM lineitem\nWHERE shipdate > DATE '${
          date(r)
        }' AND quantity > ${r.int(1, 49)}`,
        catalog: "tpch",
        schema: s === "sf1" ? "sf1" : "tiny",
      };
    },
  },
  {
    name: "count_distinct",
    gen: (r) => {
      const s = sf(r, 0.12);
      return {
        sql:
          `SELECT orderpriority, count(DISTINCT custkey) AS customers, approx_distinct(clerk) AS clerks\nFROM orders\nWHERE orderdate >= DATE '${
            date(r)
          }'\nGROUP BY orderpriority`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "order_by_no_limit",
    gen: (r) => {
      const t = r.pick(["nation", "region", "supplier"]);
      const col = t === "supplier" ? "acctbal DESC" : "name";
      return { sql: `SELECT *\nFROM ${t}\nORDER BY ${col}`, catalog: "tpch", schema: "tiny" };
    },
  },
  {
    name: "top_n",
    gen: (r) => {
      const s = sf(r, 0.12);
      return {
        sql: `SELECT partkey, name, retailprice\nFROM part\nWHERE type LIKE '%${
          r.pick(["BRASS", "COPPER", "STEEL", "TIN", "NICKEL"])
        }'\nORDER BY retailprice DESC, partkey\nLIMIT ${r.pick([5, 10, 25])}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "cte_supplier_revenue",
    gen: (r) => {
      const s = sf(r, 0.05);
      const d = date(r, 1993, 1997);
      return {
        sql:
          `WITH revenue AS (\n  SELECT suppkey AS supplier_no, sum(extendedprice * (1 - discount)) AS total_revenue\n  FROM lineitem\n  WHERE shipdate >= DATE '${d}' AND shipdate < DATE '${d}' + INTERVAL '3' MONTH\n  GROUP BY suppkey\n)\nSELECT s.suppkey, s.name, r.total_revenue\nFROM supplier s JOIN revenue r ON s.suppkey = r.supplier_no\nWHERE r.total_revenue = (SELECT max(total_revenue) FROM revenue)`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "set_operation",
    gen: (r) => {
      const s = sf(r, 0.1);
      const op = r.pick(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]);
      return {
        sql: `SELECT custkey FROM orders WHERE orderpriority = '${
          r.pick(PRIORITIES)
        }' AND totalprice > ${
          r.int(100000, 400000)
        }\n${op}\nSELECT custkey FROM customer WHERE mktsegment = '${
          r.pick(SEGMENTS)
        }'\nORDER BY 1\nLIMIT ${r.pick([100, 1000])}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "large_in_list",
    gen: (r) => {
      const s = sf(r, 0.1);
      const n = r.pick([20, 100, 500, 2000, 5000]);
      const keys = Array.from({ length: n }, () => r.int(1, maxKey(s, 200_000)));
      return {
        sql: `SELECT partkey, name, brand, retailprice\nFROM part\nWHERE partkey IN (${
          keys.join(", ")
        })`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "like_regexp",
    gen: (r) => {
      const s = sf(r, 0.1);
      const w = r.pick(WORDS);
      const pred = r.chance(0.5)
        ? `comment LIKE '%${w}%${r.pick(WORDS)}%'`
        : `regexp_like(comment, '${w}\\s+(requests|deposits|accounts)')`;
      return {
        sql: `SELECT count(*) AS n, min(orderkey), max(totalprice)\nFROM orders\nWHERE ${pred}`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "exploding_cross_join",
    gen: (r) => {
      // a*b pairs from ~1e4 to ~4e8: a cheap cartesian product up to tens of CPU seconds.
      const a = r.pick([100, 1000, 3000, 10000, 20000]);
      const b = r.pick([100, 1000, 5000, 20000]);
      return {
        sql:
          `SELECT count(*) AS pairs, sum(a.totalprice * b.acctbal) AS weight\nFROM (SELECT totalprice FROM orders LIMIT ${a}) a\nCROSS JOIN (SELECT acctbal FROM customer LIMIT ${b}) b\nWHERE a.totalprice > b.acctbal * ${
            r.int(1, 50)
          }`,
        catalog: "tpch",
        schema: a * b > 1_500_000 ? "sf1" : "tiny",
      };
    },
  },
  {
    name: "memory_heavy_group",
    gen: (r) => {
      // Builds a large hash table (hundreds of MB on sf1): fails on Small's 256 MB limit.
      const s = sf(r, 0.5);
      const key = r.pick(["partkey", "suppkey", "orderkey % 100000"]);
      return {
        sql:
          `SELECT ${key} AS k, array_agg(comment) AS comments, count(*) AS n\nFROM lineitem\nWHERE shipmode = '${
            r.pick(SHIPMODES)
          }' OR quantity > ${r.int(10, 40)}\nGROUP BY ${key}\nORDER BY n DESC\nLIMIT 10`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "global_sort_window",
    gen: (r) => {
      const s = sf(r, 0.3);
      return {
        sql:
          `SELECT max(rn) AS rows_seen, min(totalprice) AS cheapest\nFROM (\n  SELECT totalprice, row_number() OVER (ORDER BY totalprice ${
            r.pick(["ASC", "DESC"])
          }, orderkey) AS rn\n  FROM orders\n)`,
        catalog: "tpch",
        schema: s,
      };
    },
  },
  {
    name: "nation_dashboard",
    gen: (r) => ({
      sql:
        `SELECT n.name AS nation, count(DISTINCT c.custkey) AS customers, round(avg(c.acctbal), 2) AS avg_balance\nFROM customer c JOIN nation n ON c.nationkey = n.nationkey\nWHERE n.name IN ('${
          r.pick(NATIONS)
        }', '${r.pick(NATIONS)}', '${r.pick(NATIONS)}')\nGROUP BY n.name\nORDER BY customers DESC`,
      catalog: "tpch",
      schema: sf(r, 0.3),
    }),
  },
  {
    name: "tpcds_store_sales_by_brand",
    gen: (r) => {
      const s = sf(r, 0.06);
      return {
        sql:
          `SELECT d.d_year, i.i_brand_id, i.i_brand, sum(ss.ss_ext_sales_price) AS sales\nFROM store_sales ss\nJOIN date_dim d ON ss.ss_sold_date_sk = d.d_date_sk\nJOIN item i ON ss.ss_item_sk = i.i_item_sk\nWHERE i.i_manufact_id = ${
            r.int(1, 1000)
          } AND d.d_moy = ${
            r.int(1, 12)
          }\nGROUP BY d.d_year, i.i_brand_id, i.i_brand\nORDER BY d.d_year, sales DESC\nLIMIT 100`,
        catalog: "tpcds",
        schema: s,
      };
    },
  },
  {
    name: "tpcds_item_lookup",
    gen: (r) => {
      const s = sf(r, 0.4);
      return {
        sql:
          `SELECT i_item_id, i_item_desc, i_current_price, i_category\nFROM item\nWHERE i_category = '${
            r.pick(["Books", "Music", "Home", "Sports", "Shoes", "Women", "Men", "Electronics"])
          }' AND i_current_price BETWEEN ${r.int(1, 50)} AND ${
            r.int(51, 100)
          }\nORDER BY i_current_price\nLIMIT ${r.pick([10, 50, 200])}`,
        catalog: "tpcds",
        schema: s,
      };
    },
  },
  {
    name: "tpcds_customer_window",
    gen: (r) => {
      const s = sf(r, 0.05);
      return {
        sql:
          `WITH spend AS (\n  SELECT ss_customer_sk, sum(ss_net_paid) AS paid\n  FROM store_sales\n  WHERE ss_quantity BETWEEN ${
            r.int(1, 50)
          } AND ${
            r.int(51, 100)
          }\n  GROUP BY ss_customer_sk\n)\nSELECT c.c_last_name, c.c_first_name, s.paid,\n  ntile(4) OVER (ORDER BY s.paid DESC) AS quartile\nFROM spend s JOIN customer c ON s.ss_customer_sk = c.c_customer_sk\nORDER BY s.paid DESC\nLIMIT 50`,
        catalog: "tpcds",
        schema: s,
      };
    },
  },
  {
    name: "tpcds_date_filter",
    gen: (r) => ({
      sql: `SELECT d_date, d_day_name, d_quarter_name\nFROM date_dim\nWHERE d_year = ${
        r.int(1998, 2003)
      } AND d_moy = ${r.int(1, 12)} AND d_dom <= ${r.int(1, 28)}\nORDER BY d_date`,
      catalog: "tpcds",
      schema: sf(r, 0.5),
    }),
  },
  {
    name: "metadata",
    gen: (r) => {
      const k = r.int(0, 6);
      const s = r.pick(["tiny", "sf1"]);
      const sql = [
        `SHOW TABLES FROM tpch.${s}`,
        `DESCRIBE tpch.${s}.${r.pick(TPCH_TABLES)}`,
        `SHOW COLUMNS FROM tpcds.${s}.${r.pick(TPCDS_TABLES)}`,
        `SHOW SCHEMAS FROM ${r.pick(["tpch", "tpcds", "memory"])}`,
        `SHOW CATALOGS`,
        `SHOW FUNCTIONS LIKE '${r.pick(["array%", "date%", "approx%", "regexp%"])}'`,
        `EXPLAIN SELECT count(*) FROM tpch.${s}.${r.pick(TPCH_TABLES)}`,
      ][k];
      return { sql, catalog: "tpch", schema: s };
    },
  },
  {
    name: "ctas_memory",
    gen: (r, ctx) => {
      const name = `${ctx.runTag}_t${ctx.seq}`;
      ctx.createdTables.push(name);
      return {
        sql:
          `CREATE TABLE memory.default.${name} AS\nSELECT orderkey, custkey, totalprice, orderdate\nFROM tpch.tiny.orders\nWHERE orderdate >= DATE '${
            date(r)
          }'`,
        catalog: "memory",
        schema: "default",
      };
    },
  },
  {
    name: "insert_memory",
    gen: (r, ctx) => {
      // Only tables created well before this point, so concurrent execution rarely races the CTAS.
      const ready = ctx.createdTables.slice(0, -30);
      if (ready.length === 0) return TEMPLATES[0].gen(r, ctx);
      return {
        sql: `INSERT INTO memory.default.${
          r.pick(ready)
        }\nSELECT orderkey, custkey, totalprice, orderdate\nFROM tpch.tiny.orders\nWHERE orderpriority = '${
          r.pick(PRIORITIES)
        }'`,
        catalog: "memory",
        schema: "default",
      };
    },
  },
  {
    name: "user_error",
    gen: (r) => ({
      // Realistic mistakes: failures unrelated to resources, which label cleaning must drop.
      sql: r.pick([
        `SELECT orderkey, totalprise FROM orders WHERE orderkey = ${r.int(1, 60000)}`,
        `SELECT * FROM order WHERE orderkey = ${r.int(1, 60000)}`,
        `SELECT count(*) FROM orders GROUP BY`,
        `SELECT CAST('${r.pick(WORDS)}' AS integer)`,
        `SELECT * FROM tpch.tiny.lineitems LIMIT 10`,
      ]),
      catalog: "tpch",
      schema: "tiny",
    }),
  },
];

/** Who sends what: each source has users, client tags and a template mix. */
const SOURCES = [
  {
    source: "bi-dashboard",
    share: 0.45,
    users: ["bi_svc", "tableau", "superset"],
    tags: [["dashboard:sales"], ["dashboard:ops", "refresh"], ["dashboard:exec"]],
    weights: {
      point_lookup_customer: 6,
      filtered_scan: 6,
      pricing_summary: 4,
      nation_dashboard: 8,
      top_n: 5,
      count_distinct: 3,
      tpcds_store_sales_by_brand: 3,
      tpcds_item_lookup: 6,
      tpcds_date_filter: 4,
      region_join5: 2,
      window_rank: 2,
      point_lookup_orders: 6,
      large_in_list: 2,
    },
  },
  {
    source: "notebook",
    share: 0.4,
    users: ["alice", "bob", "carol", "dave", "erin"],
    tags: [[], ["adhoc"], ["team:analytics"], ["team:finance", "adhoc"]],
    weights: {
      point_lookup_orders: 3,
      point_lookup_customer: 2,
      filtered_scan: 4,
      pricing_summary: 2,
      segment_revenue_join3: 2,
      region_join5: 2,
      window_rank: 3,
      running_total: 3,
      distinct: 3,
      count_distinct: 2,
      order_by_no_limit: 3,
      top_n: 2,
      cte_supplier_revenue: 2,
      set_operation: 3,
      large_in_list: 3,
      like_regexp: 3,
      exploding_cross_join: 2.5,
      memory_heavy_group: 0.8,
      global_sort_window: 1,
      tpcds_customer_window: 1,
      tpcds_item_lookup: 2,
      metadata: 6,
      user_error: 1.5,
    },
  },
  {
    source: "etl",
    share: 0.15,
    users: ["etl_svc", "airflow"],
    tags: [["pipeline:nightly", "team:data-eng"], ["pipeline:hourly"]],
    weights: {
      ctas_memory: 2,
      insert_memory: 3,
      pricing_summary: 3,
      segment_revenue_join3: 2,
      cte_supplier_revenue: 2,
      memory_heavy_group: 1,
      global_sort_window: 1,
      tpcds_customer_window: 1,
      count_distinct: 2,
      distinct: 2,
    },
  },
] as const;

/** Options of {@linkcode generateWorkload}. */
export interface GenerateOptions {
  readonly count: number;
  readonly seed: number;
  /** Share of queries sent to the Small cluster (the rest go to Large). */
  readonly smallShare: number;
  /** Multiplier of the sf1 share (default {@linkcode DEFAULT_SF1_SCALE}). */
  readonly sf1Scale?: number;
}

/** Generates a deterministic workload plan. */
export function generateWorkload(options: GenerateOptions): PlannedQuery[] {
  const r = new Rng(options.seed);
  r.sf1Scale = options.sf1Scale ?? DEFAULT_SF1_SCALE;
  const byName = new Map(TEMPLATES.map((t) => [t.name, t]));
  const ctx: GenContext = { runTag: `wl${options.seed}`, createdTables: [], seq: 0 };
  const plan: PlannedQuery[] = [];
  for (let seq = 0; seq < options.count; seq++) {
    ctx.seq = seq;
    const src = r.weighted(SOURCES.map((s) => [s, s.share] as const));
    const templateName = r.weighted(
      Object.entries(src.weights).map(([name, w]) => [name, w] as const),
    );
    const template = byName.get(templateName)!;
    const { sql, catalog, schema } = template.gen(r, ctx);
    plan.push({
      seq,
      template: templateName,
      cluster: r.chance(options.smallShare) ? "small" : "large",
      sql,
      user: r.pick(src.users),
      source: src.source,
      catalog,
      schema,
      clientTags: r.pick<readonly string[]>(src.tags),
    });
  }
  return plan;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "4500" },
      seed: { type: "string", default: "42" },
      "small-share": { type: "string", default: "0.15" },
      "sf1-scale": { type: "string", default: String(DEFAULT_SF1_SCALE) },
      out: { type: "string", default: "-" },
    },
  });
  const plan = generateWorkload({
    count: Number(values.count),
    seed: Number(values.seed),
    smallShare: Number(values["small-share"]),
    sf1Scale: Number(values["sf1-scale"]),
  });
  const text = plan.map((q) => JSON.stringify(q)).join("\n") + "\n";
  if (values.out === "-") await Deno.stdout.write(new TextEncoder().encode(text));
  else await Deno.writeTextFile(values.out!, text);
}
