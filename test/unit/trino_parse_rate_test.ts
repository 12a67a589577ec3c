/**
 * The CST parse rate on Trino-specific SELECT statements (`test/fixtures/trino_specific_corpus.json`,
 * written for this project after the constructs in Trino's documentation: lambdas, `TRY_CAST`,
 * `TRIM(… FROM …)`, `LISTAGG … WITHIN GROUP`, `MATCH_RECOGNIZE`, inline `WITH FUNCTION`,
 * `UNNEST … WITH ORDINALITY`, time travel, table functions, `ROW(…)` types, SQL/JSON …). The
 * featurizer parses the query template after the Trino rewrite pass; the raw rate (the SQL as
 * written, straight into the parser) is printed next to it.
 */
import assert from "node:assert/strict";
import { parse } from "sql-parser-cst";
import { cstFeatures, PARSER_DIALECT } from "../../src/features/cst_features.ts";
import { lex } from "../../src/sql/lexer.ts";
import { parseTemplate } from "../../src/sql/normalize.ts";

const corpus: string[] = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/trino_specific_corpus.json", import.meta.url)),
);

function rawParses(sql: string): boolean {
  try {
    parse(sql, { dialect: PARSER_DIALECT, includeRange: false, paramTypes: ["?"] });
    return true;
  } catch {
    return false;
  }
}

Deno.test("the featurizer parses at least 90% of the Trino-specific corpus", () => {
  const raw = corpus.filter(rawParses).length;
  const failed = corpus.filter((sql) =>
    cstFeatures(parseTemplate(lex(sql).tokens)).outcome !== "parsed"
  );
  const rate = (corpus.length - failed.length) / corpus.length;
  console.log(
    `Trino-specific corpus (${corpus.length} statements): raw parse rate ${
      (raw / corpus.length * 100).toFixed(1)
    }%, template + Trino rewrite ${(rate * 100).toFixed(1)}%`,
  );
  assert.ok(corpus.length >= 100, "the corpus is not trivially small");
  assert.ok(rate >= 0.9, `parse rate ${rate}; failing:\n${failed.join("\n")}`);
});

Deno.test("the rewrite keeps what the CST features count", () => {
  const count = (sql: string) => cstFeatures(parseTemplate(lex(sql).tokens)).features;
  const lambda = count(
    "SELECT transform(a, x -> x + 1), try_cast(b AS ROW(x bigint)) FROM t JOIN u ON t.k = u.k",
  );
  assert.equal(lambda.cst_parsed, 1);
  assert.equal(lambda.cst_join_count, 1);
  assert.equal(lambda.cst_table_count, 2);
  assert.equal(lambda.cst_func_count, 1, "transform; a cast (try or not) is not a call");
  const travel = count(
    "SELECT * FROM a FOR VERSION AS OF 42 JOIN b FOR TIMESTAMP AS OF TIMESTAMP '2025-01-01' ON a.k = b.k WHERE a.x > (SELECT max(y) FROM c)",
  );
  assert.equal(travel.cst_parsed, 1);
  assert.equal(travel.cst_join_count, 1);
  assert.equal(travel.cst_subquery_count, 1);
  const listagg = count(
    "SELECT g, listagg(n, ',') WITHIN GROUP (ORDER BY n) FROM t GROUP BY g HAVING count(*) > 1",
  );
  assert.equal(listagg.cst_parsed, 1);
  assert.equal(listagg.cst_group_by_count, 1);
  assert.equal(listagg.cst_having_count, 1);
});
