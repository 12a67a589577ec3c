/**
 * Hostile and random input never makes the featurizer throw, and its work stays bounded: input
 * past the parse guard never reaches the parser (design document section 5.1's 50 ms budget is
 * kept by those bounds; the time itself is printed by `deno task bench`, never asserted here).
 */
import assert from "node:assert/strict";
import { createFeaturizer, featureNames, FIXED_ONLY_SPEC } from "../../src/features/featurizer.ts";
import type { ParseOutcome } from "../../src/features/cst_features.ts";

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

/** Featurizes one input and checks the invariants every answer keeps. */
function featurizeChecked(sqlText: string): ParseOutcome {
  const result = featurize({ sqlText });
  assert.equal(result.vector.length, width);
  assert.ok(result.vector.every(Number.isFinite), "every feature is a finite number");
  return result.parseOutcome;
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

Deno.test("thousands of mutated and random inputs never throw and give finite features", () => {
  const next = random(20251124);
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
    featurizeChecked(sql);
  }
  for (let i = 0; i < 500; i++) {
    const length = Math.floor(next() * 400);
    const sql = Array.from({ length }, () => String.fromCharCode(Math.floor(next() * 0x10000)))
      .join("");
    featurizeChecked(sql);
  }
});

// Each hostile input and how the parse guard must treat it: refused before the parser
// (`too-large`, `too-deep`), or parsed because its literal-free template is small.
const HOSTILE: Record<string, readonly [() => string, ParseOutcome]> = {
  "10,000 nested parentheses": [
    () => "SELECT " + "(".repeat(10_000) + "1" + ")".repeat(10_000),
    "too-large",
  ],
  "375 nested parentheses (the parser's stack limit)": [
    () => "SELECT " + "(".repeat(375) + "1" + ")".repeat(375),
    "too-deep",
  ],
  "a 100,000-item IN-list": [
    () =>
      "SELECT * FROM t WHERE x IN (" + Array.from({ length: 100_000 }, (_, i) => i).join(",") +
      ")",
    "too-large",
  ],
  "a megabyte of tokens": [() => "SELECT " + "a + ".repeat(250_000) + "1", "too-large"],
  "a megabyte string literal (its template is SELECT '')": [
    () => "SELECT '" + "x".repeat(1_000_000) + "'",
    "parsed",
  ],
  "a megabyte of open parentheses": [() => "(".repeat(1_000_000), "too-large"],
  "a 1,200-token query at the parse guard": [
    () => "SELECT " + Array.from({ length: 595 }, (_, i) => `c${i}`).join(", ") + " FROM t",
    "parsed",
  ],
};

for (const [name, [make, expected]] of Object.entries(HOSTILE)) {
  Deno.test(`hostile input: ${name} → ${expected}`, () => {
    assert.equal(featurizeChecked(make()), expected);
  });
}

const ODD_BYTES: Record<string, () => string> = {
  "NUL bytes": () => "SELECT \0 FROM\0t\0",
  "invalid UTF-8 decoded with replacement characters": () =>
    new TextDecoder().decode(new Uint8Array([0x53, 0x45, 0xff, 0xfe, 0xc3, 0x28, 0x4c])),
  "lone surrogates": () => "SELECT '\uD800' FROM \uDC00t",
  "300 chained joins": () =>
    "SELECT * FROM " + Array.from({ length: 300 }, (_, i) => `t${i}`).join(" JOIN "),
};

for (const [name, make] of Object.entries(ODD_BYTES)) {
  Deno.test(`odd input: ${name} gets finite features`, () => {
    featurizeChecked(make());
  });
}
