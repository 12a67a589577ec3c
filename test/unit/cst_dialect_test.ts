/**
 * Which `sql-parser-cst` dialect parses Trino SQL best, measured on a corpus of Trino-specific
 * statements (`test/fixtures/trino_corpus.json`). The featurizer uses the winner.
 */
import assert from "node:assert/strict";
import { parse } from "sql-parser-cst";
import { PARSER_DIALECT } from "../../src/features/cst_features.ts";

const corpus: string[] = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/trino_corpus.json", import.meta.url)),
);
const DIALECTS = ["postgresql", "mysql", "mariadb", "bigquery", "sqlite"] as const;

function parseRate(dialect: string): number {
  let parsed = 0;
  for (const sql of corpus) {
    try {
      parse(sql, { dialect: dialect as "postgresql", includeRange: false });
      parsed++;
    } catch {
      // A refusal is what we are counting.
    }
  }
  return parsed / corpus.length;
}

Deno.test("the featurizer's dialect parses the Trino corpus best of all dialects", () => {
  const rates = Object.fromEntries(DIALECTS.map((d) => [d, parseRate(d)]));
  console.log("parse rate by dialect on", corpus.length, "Trino statements:", rates);
  const best = Math.max(...Object.values(rates));
  assert.equal(rates[PARSER_DIALECT], best);
});

Deno.test("the featurizer's dialect parses at least 80% of the Trino corpus", () => {
  assert.ok(parseRate(PARSER_DIALECT) >= 0.8, `only ${parseRate(PARSER_DIALECT)}`);
});
