import assert from "node:assert/strict";
import { lex } from "../../src/sql/lexer.ts";
import { statementKind } from "../../src/sql/statement_kind.ts";
import { Rng } from "../../tools/workload/generate.ts";
import {
  generateRandomPlan,
  generateShape,
  GENERATOR,
  keyEdges,
  MIXES,
  renderShape,
  SCALES,
} from "../../tools/workload/random_queries.ts";
import schema from "../../tools/workload/random_schema.json" with { type: "json" };

const plan = generateRandomPlan({ shapes: 400, seed: 7, smallShare: 0.2, cpuCap: "3s" });

Deno.test("the random plan is deterministic per seed", () => {
  const again = generateRandomPlan({ shapes: 400, seed: 7, smallShare: 0.2, cpuCap: "3s" });
  assert.deepEqual(again, plan);
  const other = generateRandomPlan({ shapes: 400, seed: 8, smallShare: 0.2, cpuCap: "3s" });
  assert.notDeepEqual(other.map((q) => q.sql), plan.map((q) => q.sql));
});

Deno.test("every query lexes completely into a read statement with balanced parentheses", () => {
  for (const q of plan) {
    const { tokens, truncated } = lex(q.sql);
    assert.equal(truncated, false);
    assert.equal(statementKind(tokens), "read", q.sql);
    let depth = 0;
    for (const t of tokens) {
      if (t.text === "(") depth++;
      if (t.text === ")") depth--;
      assert.ok(depth >= 0, q.sql);
    }
    assert.equal(depth, 0, q.sql);
    assert.ok(!q.sql.includes("{{"), `unrendered table marker in ${q.sql}`);
  }
});

Deno.test("every shape runs at both scales, naming only its own scale's tables", () => {
  const byShape = new Map<string, string[]>();
  for (const q of plan) byShape.set(q.shape, [...(byShape.get(q.shape) ?? []), q.scale]);
  assert.equal(byShape.size, 400);
  for (const scales of byShape.values()) assert.deepEqual(scales.sort(), [...SCALES].sort());
  for (const q of plan) {
    const other = q.scale === "tiny" ? "sf1" : "tiny";
    assert.ok(!new RegExp(`\\b${other}\\.`).test(q.sql), q.sql);
    // Unqualified names resolve through the session, so they appear only when it matches.
    const qualified = q.sql.match(/\b(FROM|JOIN)\s+(\w+)(\.\w+)?(\.\w+)?/g) ?? [];
    for (const ref of qualified) {
      const dots = ref.split(".").length - 1;
      if (dots === 0 && !ref.includes("base")) {
        assert.equal(`${q.catalog}.${q.schema}`, `${q.shapeCatalog}.${q.scale}`);
      }
      if (dots === 1) assert.equal(q.catalog, q.shapeCatalog);
    }
  }
});

Deno.test("renderShape qualifies names as the session allows", () => {
  const shape = { sql: "SELECT 1 FROM {{tpch.orders}} t1", catalog: "tpch", family: "j1" };
  const seen = (catalog: string, schema: string) => {
    const r = new Rng(1);
    return new Set(Array.from({ length: 60 }, () => renderShape(r, shape, "sf1", catalog, schema)));
  };
  assert.deepEqual([...seen("tpcds", "sf1")], ["SELECT 1 FROM tpch.sf1.orders t1"]);
  assert.deepEqual([...seen("", "")], ["SELECT 1 FROM tpch.sf1.orders t1"]);
  assert.deepEqual(
    [...seen("tpch", "tiny")].sort(),
    ["SELECT 1 FROM sf1.orders t1", "SELECT 1 FROM tpch.sf1.orders t1"],
  );
  assert.deepEqual([...seen("tpch", "sf1")].sort(), [
    "SELECT 1 FROM orders t1",
    "SELECT 1 FROM sf1.orders t1",
    "SELECT 1 FROM tpch.sf1.orders t1",
  ]);
});

Deno.test("the plan covers every construct of the recipe", () => {
  const families = plan.map((q) => q.family);
  const has = (re: RegExp) => families.some((f) => re.test(f));
  for (let n = 1; n <= 10; n++) assert.ok(has(new RegExp(`^j${n}x?-`)), `j${n}`);
  for (
    const re of [
      /^j\d+x-/, // non-key joins
      /-cte\d[ju]/, // a CTE referenced several times
      /-sub(agg|filter|win)/, // derived tables
      /-in-/, // IN / NOT IN subqueries
      /-scalar-/, // scalar subqueries
      /-setunion-/,
      /-setunionall-/,
      /-setintersect-/,
      /-setexcept-/,
      /-agglo/,
      /-agghi/,
      /-aggglobal/,
      /-win/,
      /-winhi/,
      /-distinct/,
      /-cdist/,
      /-ord(-|$)/,
      /-ordlim/,
      /-sel/,
      /-nonsel/,
    ]
  ) {
    assert.ok(has(re), String(re));
  }
  const sql = plan.map((q) => q.sql).join("\n");
  for (const s of ["CROSS JOIN", "LEFT JOIN", "WITH base AS", "OVER (", "DISTINCT", "LIMIT"]) {
    assert.ok(sql.includes(s), s);
  }
  // Joins follow real keys: tpch foreign keys and tpcds surrogate keys.
  assert.match(sql, /t\d+\.orderkey = t\d+\.orderkey/);
  assert.match(sql, /t\d+\.\w+_sold_date_sk = t\d+\.d_date_sk|t\d+\.d_date_sk = t\d+\.\w+_date_sk/);
});

Deno.test("key edges come from the introspected schema", () => {
  const tpch = keyEdges("tpch").map((e) => `${e.a}->${e.b}`);
  for (const e of ["lineitem->orders", "orders->customer", "customer->nation", "nation->region"]) {
    assert.ok(tpch.includes(e), e);
  }
  const tpcds = keyEdges("tpcds");
  assert.ok(tpcds.some((e) => e.a === "store_sales" && e.b === "date_dim"));
  assert.ok(tpcds.some((e) => e.a === "store_returns" && e.b === "store_sales"));
  for (const e of tpcds) {
    for (const [a, b] of e.pairs) assert.ok(a.endsWith("_sk") || a.endsWith("number"), `${a}=${b}`);
  }
});

Deno.test("identity, session and recipe ride in the headers; every query gets the CPU cap", () => {
  for (const q of plan) {
    const info = JSON.parse(q.clientInfo!);
    assert.deepEqual(info, { generator: GENERATOR, family: q.family, shape: q.shape });
    assert.deepEqual(q.sessionProperties, { query_max_cpu_time: "3s" });
    assert.equal(q.catalog === "", q.schema === "");
  }
  const users = new Set(plan.map((q) => q.user));
  assert.ok(users.size >= 10);
  assert.ok(plan.some((q) => q.cluster === "small") && plan.some((q) => q.cluster === "large"));
});

Deno.test("shapes are generated from both catalogs", () => {
  const r = new Rng(3);
  const catalogs = new Set(Array.from({ length: 50 }, () => generateShape(r).catalog));
  assert.deepEqual([...catalogs].sort(), ["tpcds", "tpch"]);
});

Deno.test("the structural mix is named in client info and leans to more tables", () => {
  const structural = generateRandomPlan({
    shapes: 400,
    seed: 7,
    smallShare: 0.2,
    cpuCap: "3s",
    mix: "structural",
  });
  for (const q of structural) assert.equal(JSON.parse(q.clientInfo!).mix, "structural");
  const tables = (p: typeof plan) =>
    p.reduce((s, q) => s + Number(/^j(\d+)/.exec(q.family)![1]), 0) / p.length;
  assert.ok(tables(structural) > tables(plan) + 0.5, `${tables(structural)} vs ${tables(plan)}`);
  assert.throws(
    () => generateRandomPlan({ shapes: 1, seed: 1, smallShare: 0, mix: "nope" }),
    /unknown mix nope/,
  );
});

/** SHA-256 of a plan, hex. */
async function digest(value: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("the base and structural mixes still plan exactly what their chunks ran", async () => {
  // Pinned before the analyst mix was added: the logged chunks must stay reproducible.
  const pins: Record<string, [string, string]> = {
    base: [
      "7cda2e8d1d68193ff703de666c366adda1b261c652ea69e868f0fae4e809ddd3",
      "j5-subwin-plain-nonsel",
    ],
    structural: [
      "2ff3cfbe34911e8f1fb33790526fec1e6f410cc4b4be63ef4b85739dd8cc1a57",
      "j7-subwin-plain",
    ],
  };
  for (const [mix, [hash, family]] of Object.entries(pins)) {
    const p = generateRandomPlan({ shapes: 200, seed: 1001, smallShare: 0.2, cpuCap: "3s", mix });
    assert.equal(await digest(p), hash, mix);
    assert.equal(generateShape(new Rng(5), MIXES[mix]).family, family, mix);
  }
});

const analyst = generateRandomPlan({
  shapes: 300,
  seed: 11,
  smallShare: 0.2,
  cpuCap: "3s",
  mix: "analyst",
});

Deno.test("the analyst mix is deterministic per seed and named in client info", () => {
  const again = generateRandomPlan({
    shapes: 300,
    seed: 11,
    smallShare: 0.2,
    cpuCap: "3s",
    mix: "analyst",
  });
  assert.deepEqual(again, analyst);
  const other = generateRandomPlan({ shapes: 50, seed: 12, smallShare: 0.2, mix: "analyst" });
  assert.notDeepEqual(other.map((q) => q.sql), analyst.slice(0, 100).map((q) => q.sql));
  for (const q of analyst) {
    const info = JSON.parse(q.clientInfo!);
    assert.equal(info.mix, "analyst");
    assert.equal(info.family, q.family);
    assert.match(q.family, /^an-(star|yoy|channel|outlier|chain|profile)-c\d/);
  }
});

Deno.test("analyst shapes name only tables and columns of random_schema.json", () => {
  const r = new Rng(21);
  for (let i = 0; i < 300; i++) {
    const shape = generateShape(r, MIXES.analyst);
    const cols = new Map<string, Set<string>>();
    for (const [, catalog, table, alias] of shape.sql.matchAll(/\{\{(\w+)\.(\w+)\}\} (\w+)/g)) {
      assert.equal(catalog, shape.catalog, shape.sql);
      const t =
        (schema as Record<string, { tables: Record<string, { columns: { name: string }[] }> }>)[
          catalog
        ]?.tables[table];
      assert.ok(t, `${catalog}.${table} is not in random_schema.json`);
      const set = cols.get(alias) ?? new Set();
      for (const c of t.columns) set.add(c.name);
      cols.set(alias, set);
    }
    assert.ok(cols.size >= 1, shape.sql);
    // A qualified column is a column of a table bound to that alias, or a name the SQL defines
    // (a CTE's or derived table's output column).
    const defined = new Set([...shape.sql.matchAll(/\bAS (\w+)/g)].map((m) => m[1]));
    for (const [ref, alias, col] of shape.sql.matchAll(/\b([a-z]\w*)\.([a-z_]\w*)\b/g)) {
      if (!cols.has(alias) || ref.startsWith("tpc")) continue;
      assert.ok(cols.get(alias)!.has(col) || defined.has(col), `${ref} in\n${shape.sql}`);
    }
  }
});

Deno.test("analyst queries lex into reads and cover every recipe and habit", () => {
  for (const q of analyst) {
    const { tokens, truncated } = lex(q.sql);
    assert.equal(truncated, false);
    assert.equal(statementKind(tokens), "read", q.sql);
    let depth = 0;
    for (const t of tokens) depth += t.text === "(" ? 1 : t.text === ")" ? -1 : 0;
    assert.equal(depth, 0, q.sql);
    assert.ok(!q.sql.includes("{{"), q.sql);
  }
  const families = new Set(analyst.map((q) => q.family));
  const has = (re: RegExp) => [...families].some((f) => re.test(f));
  for (const recipe of ["star", "yoy", "channel", "outlier", "chain", "profile"]) {
    assert.ok(has(new RegExp(`^an-${recipe}-`)), recipe);
  }
  for (const tag of ["win", "semi", "cdist", "fan", "nolim"]) {
    assert.ok(has(new RegExp(`-${tag}(-|$)`)), tag);
  }
  assert.ok(has(/-c[45]/), "4–5 CTEs");
  const sql = analyst.map((q) => q.sql).join("\n");
  for (
    const s of [
      "UNION ALL",
      "cur.yr = prev.yr + 1",
      "OVER (PARTITION BY",
      "EXISTS (",
      "HAVING",
      "CASE WHEN",
      "CROSS JOIN",
      "LIMIT 100",
    ]
  ) {
    assert.ok(sql.includes(s), s);
  }
  // Most finals end in a LIMIT, some do not.
  const limited = analyst.filter((q) => /\nLIMIT \d+$/.test(q.sql)).length / analyst.length;
  assert.ok(limited > 0.6 && limited < 0.95, String(limited));
});
