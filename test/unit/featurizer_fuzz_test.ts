/**
 * Hostile and random input never makes the featurizer throw or overrun its 50 ms budget
 * (design document section 5.1).
 */
import assert from "node:assert/strict";
import { createFeaturizer, featureNames, FIXED_ONLY_SPEC } from "../../src/features/featurizer.ts";

const BUDGET_MS = 50;
const featurize = createFeaturizer(FIXED_ONLY_SPEC);
const width = featureNames(FIXED_ONLY_SPEC).length;

/** Seeded PRNG (mulberry32) so every run throws the same inputs. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Time of the fastest of up to three runs: a garbage-collection pause or a busy CI core can
 * delay one call, but an input that is genuinely too slow is slow every time.
 */
function fastestRunMs(sqlText: string): number {
  let best = Infinity;
  for (let attempt = 0; attempt < 3 && best > BUDGET_MS; attempt++) {
    const started = performance.now();
    const result = featurize({ sqlText });
    best = Math.min(best, performance.now() - started);
    assert.equal(result.vector.length, width);
    assert.ok(result.vector.every(Number.isFinite), "every feature is a finite number");
  }
  return best;
}

const SEED_QUERIES = [
  "SELECT a, count(*) FROM tpch.sf1.orders o JOIN tpch.sf1.lineitem l ON o.orderkey = l.orderkey GROUP BY a",
  "WITH x AS (SELECT * FROM t WHERE d = DATE '2025-01-01') SELECT DISTINCT * FROM x ORDER BY 1",
  "SELECT * FROM t WHERE k IN (1, 2, 3) AND name LIKE 'a%' OR regexp_like(n, '^x')",
  "INSERT INTO memory.default.t SELECT * FROM tpch.tiny.nation",
  "SELECT \"quoted \"\" id\", 'str''ing' /* c */ -- line\n FROM u",
];
const FRAGMENTS = [
  "(",
  ")",
  "'",
  '"',
  "--",
  "/*",
  "*/",
  ",",
  "SELECT",
  "JOIN",
  "IN (",
  "\0",
  "\uFFFD",
  "é",
  "\u{1F600}",
  " ",
  "\n",
];

Deno.test("thousands of mutated and random inputs never throw and stay within budget", () => {
  const next = random(20251124);
  let slowest = 0;
  for (let i = 0; i < 3000; i++) {
    let sql = SEED_QUERIES[i % SEED_QUERIES.length];
    const mutations = 1 + Math.floor(next() * 8);
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(next() * (sql.length + 1));
      const roll = next();
      if (roll < 0.4) {
        sql = sql.slice(0, at) + FRAGMENTS[Math.floor(next() * FRAGMENTS.length)] + sql.slice(at);
      } else if (roll < 0.7) sql = sql.slice(0, at) + sql.slice(at + 1 + Math.floor(next() * 10));
      else {sql = sql.slice(0, at) + String.fromCharCode(Math.floor(next() * 0x3000)) +
          sql.slice(at);}
    }
    slowest = Math.max(slowest, fastestRunMs(sql));
  }
  for (let i = 0; i < 500; i++) {
    const length = Math.floor(next() * 400);
    const sql = Array.from({ length }, () => String.fromCharCode(Math.floor(next() * 0x10000)))
      .join("");
    slowest = Math.max(slowest, fastestRunMs(sql));
  }
  assert.ok(slowest <= BUDGET_MS, `slowest input took ${slowest.toFixed(1)} ms`);
});

const HOSTILE: Record<string, () => string> = {
  "10,000 nested parentheses": () => "SELECT " + "(".repeat(10_000) + "1" + ")".repeat(10_000),
  "375 nested parentheses (the parser's stack limit)": () =>
    "SELECT " + "(".repeat(375) + "1" + ")".repeat(375),
  "a 100,000-item IN-list": () =>
    "SELECT * FROM t WHERE x IN (" + Array.from({ length: 100_000 }, (_, i) => i).join(",") + ")",
  "a megabyte of tokens": () => "SELECT " + "a + ".repeat(250_000) + "1",
  "a megabyte string literal": () => "SELECT '" + "x".repeat(1_000_000) + "'",
  "a megabyte of open parentheses": () => "(".repeat(1_000_000),
  "NUL bytes": () => "SELECT \0 FROM\0t\0",
  "invalid UTF-8 decoded with replacement characters": () =>
    new TextDecoder().decode(new Uint8Array([0x53, 0x45, 0xff, 0xfe, 0xc3, 0x28, 0x4c])),
  "lone surrogates": () => "SELECT '\uD800' FROM \uDC00t",
  "a 1,200-token query at the parse guard": () =>
    "SELECT " + Array.from({ length: 595 }, (_, i) => `c${i}`).join(", ") + " FROM t",
  "300 chained joins": () =>
    "SELECT * FROM " + Array.from({ length: 300 }, (_, i) => `t${i}`).join(" JOIN "),
};

for (const [name, make] of Object.entries(HOSTILE)) {
  Deno.test(`hostile input: ${name} gets features within budget`, () => {
    const ms = fastestRunMs(make());
    assert.ok(ms <= BUDGET_MS, `${name} took ${ms.toFixed(1)} ms`);
  });
}
