/**
 * The join estimate: key joins keep the larger input, fan-out joins multiply by |A|·|B| / max
 * NDV, joins without a usable equality multiply, and what CTEs and derived tables output
 * (rows, plain columns' NDVs) carries into the blocks that read them.
 *
 * @module
 */

import assert from "node:assert/strict";
import { estimateJoins, MAX_BLOCK_INPUTS } from "../../src/features/join_estimate.ts";
import {
  createFeaturizer,
  FIXED_FEATURE_NAMES,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import { tableSizeLookup, withColumnStatistics } from "../../src/features/table_catalog.ts";
import { lex } from "../../src/sql/lexer.ts";

/** tpch tiny, with the connector's own statistics (`SHOW STATS`). */
const STATS = {
  "tpch.tiny.orders": { rows: 15_000, ndv: { orderkey: 15_000, custkey: 1_000, orderdate: 2_400 } },
  "tpch.tiny.lineitem": { rows: 60_175, ndv: { orderkey: 15_000, partkey: 2_000, suppkey: 100 } },
  "tpch.tiny.customer": { rows: 1_500, ndv: { custkey: 1_500, nationkey: 25, mktsegment: 5 } },
  "tpch.tiny.nation": { rows: 25, ndv: { nationkey: 25, regionkey: 5 } },
};
const CATALOG = withColumnStatistics({
  tables: Object.keys(STATS).sort(),
  rows: Object.keys(STATS).sort().map(() => 0),
  bytes: Object.keys(STATS).sort().map(() => 0),
}, STATS);
const sizeOf = tableSizeLookup(CATALOG);
const joins = (sql: string, schema = "tiny") =>
  estimateJoins(lex(sql).tokens, { catalog: "tpch", schema }, sizeOf);
const log = (rows: number) => Math.log10(1 + rows);
const near = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 0.02, `${what}: ${actual} vs ${expected}`);

Deno.test("a join on a key keeps the larger input; a join of two non-unique columns fans out", () => {
  const key = joins("SELECT * FROM lineitem l JOIN orders o ON l.orderkey = o.orderkey");
  assert.deepEqual([key.keyJoins, key.fanoutJoins, key.expressionJoins], [1, 0, 0]);
  near(key.intermediateLog, log(60_175), "lineitem ⋈ orders on orderkey");
  // orders.custkey is not unique (1,000 values over 15,000 rows) on either side.
  const fan = joins("SELECT * FROM orders a JOIN orders b ON a.custkey = b.custkey");
  assert.deepEqual([fan.keyJoins, fan.fanoutJoins], [0, 1]);
  near(fan.intermediateLog, 2 * log(15_000) - log(1_000), "15,000² / 1,000 rows");
  // The same join written as a comma list with the equality in WHERE, unqualified columns.
  const comma = joins(
    "SELECT * FROM customer, nation WHERE customer.nationkey = nation.nationkey AND mktsegment = 'x'",
  );
  assert.deepEqual([comma.keyJoins, comma.fanoutJoins], [1, 0]);
  // (mktsegment = 'x' keeps one segment of five.)
  near(comma.intermediateLog, log(1_500) - log(5), "customer ⋈ nation");
});

Deno.test("no usable equality multiplies: CROSS JOIN, a bare comma, ON of expressions or OR", () => {
  near(joins("SELECT * FROM customer CROSS JOIN nation").intermediateLog, log(1500) + log(25), "x");
  near(joins("SELECT * FROM customer, nation").intermediateLog, log(1500) + log(25), "comma");
  const count = (sql: string) => joins(sql).expressionJoins;
  assert.equal(count("SELECT * FROM a JOIN b ON a.k = b.k AND a.j = b.j JOIN c ON c.x = b.x"), 0);
  assert.equal(count("SELECT * FROM a JOIN b ON mod(a.x, 10) = mod(b.y, 10)"), 1);
  assert.equal(count("SELECT * FROM a JOIN b ON a.k < b.k JOIN c ON a.k = c.k OR a.j = c.j"), 2);
  assert.equal(count("SELECT * FROM a JOIN b USING (k) JOIN c ON true"), 1);
  assert.equal(count("SELECT * FROM a LEFT JOIN b ON a.k = b.k WHERE a.x > 1"), 0);
  // A plain equality beside an expression (`cur.yr = prev.yr + 1`) follows the key: no cross join.
  const yoy = joins(
    "SELECT * FROM orders cur JOIN orders prev ON cur.orderkey = prev.orderkey " +
      "AND year(cur.orderdate) = year(prev.orderdate) + 1",
  );
  assert.deepEqual([yoy.expressionJoins, yoy.keyJoins], [0, 1]);
  near(yoy.intermediateLog, log(15_000), "key self-join");
});

Deno.test("CTE and derived-table outputs carry their rows and their plain columns' NDVs", () => {
  // Grouped by custkey, the CTE's custkey is unique: reading it twice on custkey is a key join.
  const grouped = joins(
    "WITH c AS (SELECT custkey, count(*) AS n FROM orders GROUP BY custkey) " +
      "SELECT * FROM c a JOIN c b ON a.custkey = b.custkey",
  );
  assert.deepEqual([grouped.keyJoins, grouped.fanoutJoins], [1, 0]);
  near(grouped.intermediateLog, log(15_000), "the CTE's own scan is the largest");
  // Ungrouped, a self-join of the CTE on a non-unique plain column fans out.
  const fan = joins(
    "WITH l AS (SELECT x.suppkey AS s, x.partkey FROM lineitem x) " +
      "SELECT count(*) FROM l a JOIN l b ON a.s = b.s",
  );
  assert.equal(fan.fanoutJoins, 1);
  near(fan.intermediateLog, 2 * log(60_175) - log(100), "60,175² / 100 rows");
  // A global aggregate is one row; a derived table's GROUP BY is the product of its keys' NDVs.
  const agg = joins(
    "WITH t AS (SELECT sum(custkey) AS s FROM orders) SELECT * FROM t, t u, t v, t w",
  );
  near(agg.intermediateLog, log(15_000), "1-row CTE reads cost nothing more");
  const derived = joins(
    "SELECT * FROM (SELECT nationkey, mktsegment FROM customer GROUP BY 1, 2) g, nation n",
  );
  near(derived.intermediateLog, Math.max(log(1500), log(25) + log(5) + log(25)), "grouped");
  // max() of a column has no more values than the column: a self-join on it fans out.
  const picked = joins(
    "WITH m AS (SELECT orderkey, max(custkey) AS c FROM orders GROUP BY orderkey) " +
      "SELECT * FROM m a JOIN m b ON a.c = b.c",
  );
  assert.equal(picked.fanoutJoins, 1);
  near(picked.intermediateLog, 2 * log(15_000) - log(1_000), "15,000² / 1,000 rows");
  // Columns of other aggregates or windows are unknown: the join keeps the larger input.
  const unknown = joins(
    "WITH w AS (SELECT rank() OVER (ORDER BY orderdate) AS r FROM orders) " +
      "SELECT * FROM w a JOIN w b ON a.r = b.r",
  );
  assert.deepEqual([unknown.keyJoins, unknown.fanoutJoins], [0, 0]);
  near(unknown.intermediateLog, log(15_000), "unknown columns");
});

Deno.test("literal filters narrow their input and their column before the joins", () => {
  // One custkey value keeps 15 of 15,000 orders; a range keeps a third (BETWEEN's AND is no conjunction).
  near(
    joins("SELECT * FROM orders WHERE custkey = 7").intermediateLog,
    log(15_000) - log(1_000),
    "=",
  );
  near(
    joins(
      "SELECT * FROM orders o WHERE o.orderdate BETWEEN DATE '1995-01-01' AND DATE '1995-12-31'",
    )
      .intermediateLog,
    log(15_000) + Math.log10(1 / 3),
    "range",
  );
  near(
    joins("SELECT * FROM customer WHERE mktsegment IN ('A', 'B')").intermediateLog,
    log(1500) + Math.log10(2) - log(5),
    "IN",
  );
  // A grouped CTE filtered to one year: its GROUP BY output shrinks with the filter, so its
  // self-join on the other key no longer looks like a fan-out of every year.
  const yoy = joins(
    "WITH y AS (SELECT o.orderdate AS d, o.custkey AS c, count(*) AS n FROM orders o " +
      "WHERE o.orderdate = DATE '1995-03-01' GROUP BY o.orderdate, o.custkey) " +
      "SELECT * FROM y a JOIN y b ON a.c = b.c",
  );
  assert.ok(yoy.intermediateLog < log(15_000), `${yoy.intermediateLog}`);
  // Not literal filters: a subquery IN, a column compared with a column, OR.
  for (
    const sql of [
      "SELECT * FROM orders WHERE custkey IN (SELECT custkey FROM customer)",
      "SELECT * FROM orders WHERE custkey = orderkey",
      "SELECT * FROM orders WHERE custkey = 1 OR custkey = 2",
    ]
  ) {
    near(joins(sql).intermediateLog, log(15_000), sql);
  }
});

Deno.test("outer joins keep their preserved side; qualified names ignore the session", () => {
  const left = joins(
    "SELECT * FROM lineitem l LEFT JOIN nation n ON l.suppkey = n.nationkey",
  );
  assert.ok(left.intermediateLog >= log(60_175) - 1e-9);
  const sf1 = joins(
    "SELECT * FROM tpch.tiny.orders a JOIN tpch.tiny.orders b ON a.custkey = b.custkey",
    "sf1",
  );
  assert.equal(sf1.fanoutJoins, 1);
  // Tables the catalog does not know are unknown (0 rows, no columns), never a throw.
  assert.equal(
    joins("SELECT * FROM nowhere a JOIN elsewhere b ON a.k = b.k", "sf9").fanoutJoins,
    0,
  );
});

Deno.test("the featurizer's size features carry the estimate", () => {
  const featurize = createFeaturizer({ ...FIXED_ONLY_SPEC, tableCatalog: CATALOG });
  const at = (name: string) => FIXED_FEATURE_NAMES.indexOf(name);
  const v = featurize({
    sqlText: "SELECT * FROM orders a JOIN orders b ON a.custkey = b.custkey " +
      "JOIN customer c ON c.custkey = a.custkey",
    catalog: "tpch",
    schema: "tiny",
  }).vector;
  assert.deepEqual([v[at("fanout_joins")], v[at("key_joins")], v[at("expression_joins")]], [
    1,
    1,
    0,
  ]);
  assert.ok(Math.abs(v[at("est_intermediate_log")] - (2 * log(15_000) - log(1_000))) < 0.02);
});

Deno.test("hostile input: never throws, stays bounded", () => {
  for (
    const sql of [
      "SELECT * FROM " + "a, ".repeat(10_000),
      "SELECT * FROM a JOIN b ON " + "a.k = b.k AND ".repeat(3_000) + "true",
      "SELECT * FROM " + "(".repeat(3_000) + "SELECT 1 FROM t" + ")".repeat(2_000),
      "WITH " + ", a (".repeat(5000),
      "FROM FROM FROM JOIN ON = . . , ( ) ) ) AS AS",
      "SELECT * FROM x GROUP BY 99, 0, -1",
    ]
  ) {
    const e = joins(sql);
    assert.ok(Number.isFinite(e.intermediateLog) && e.intermediateLog >= 0, sql.slice(0, 40));
  }
  // A FROM list past the cap is estimated on its first inputs.
  const wide = joins("SELECT * FROM " + Array(500).fill("nation").join(", "));
  near(wide.intermediateLog, MAX_BLOCK_INPUTS * log(25), "capped inputs");
});
