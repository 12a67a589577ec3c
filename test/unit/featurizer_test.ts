import assert from "node:assert/strict";
import {
  createFeaturizer,
  featureNames,
  type FeatureSpec,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import { fitTfidf } from "../../src/features/tfidf.ts";

const spec: FeatureSpec = {
  ...FIXED_ONLY_SPEC,
  categories: { ...FIXED_ONLY_SPEC.categories, user: ["etl"], table: ["tpch.sf1.lineitem"] },
  tfidf: { vocabulary: ["select", "where", "= <str>"], idf: [1, 2, 3] },
};
const names = featureNames(spec);
const featurize = createFeaturizer(spec);
const value = (vector: Float32Array, name: string) => vector[names.indexOf(name)];

Deno.test("the vector has one value per named feature", () => {
  assert.equal(featurize({ sqlText: "SELECT 1" }).vector.length, names.length);
  assert.equal(new Set(names).size, names.length, "feature names are unique");
});

Deno.test("keyword, join and predicate counts come from the SQL", () => {
  const { vector } = featurize({
    sqlText: "SELECT DISTINCT a FROM x JOIN y ON x.k = y.k CROSS JOIN z " +
      "WHERE a > 1 AND b LIKE 'q%' OR regexp_like(c, 'r') ORDER BY a",
  });
  assert.equal(value(vector, "kw_join"), 2);
  assert.equal(value(vector, "kw_cross_join"), 1);
  assert.equal(value(vector, "kw_distinct"), 1);
  assert.equal(value(vector, "kw_order_by"), 1);
  assert.equal(value(vector, "shuffle_risk"), 1);
  assert.equal(value(vector, "kw_and"), 1);
  assert.equal(value(vector, "kw_or"), 1);
  assert.equal(value(vector, "kw_like"), 1);
  assert.equal(value(vector, "kw_regexp"), 1);
  assert.equal(value(vector, "inequality_count"), 1);
  // A key join (`x.k = y.k`) is not an equality with a literal.
  assert.equal(value(vector, "eq_literal_count"), 0);
});

Deno.test("equalities with a literal are counted on either side, whatever the literal's kind", () => {
  const { vector } = featurize({
    sqlText: "SELECT * FROM t WHERE mod(k, 1000) = 156 AND 'x' = s AND d = DATE '2001-01-01' " +
      "AND a = b AND c >= 3",
  });
  assert.equal(value(vector, "eq_literal_count"), 3);
  const negative = featurize({ sqlText: "SELECT 1 FROM t WHERE k = -5 OR k = +x" }).vector;
  assert.equal(value(negative, "eq_literal_count"), 1);
});

Deno.test("the largest IN-list is measured, subquery IN is not a list", () => {
  const { vector } = featurize({
    sqlText: "SELECT * FROM t WHERE a IN (1, 2, 3) AND b IN (4, 5) AND c IN (SELECT c FROM u)",
  });
  assert.equal(value(vector, "in_list_max"), 3);
  assert.equal(value(vector, "in_list_count"), 2);
});

Deno.test("CST features describe structure when the query parses", () => {
  const f = featurize({
    sqlText:
      "WITH a AS (SELECT k FROM x) SELECT k, rank() OVER (ORDER BY k) FROM a JOIN y USING (k) " +
      "WHERE k IN (SELECT k FROM z) GROUP BY k HAVING count(*) > 1 UNION SELECT 1 LIMIT 5",
  });
  assert.equal(f.parseOutcome, "parsed");
  assert.equal(value(f.vector, "cst_parsed"), 1);
  assert.equal(value(f.vector, "cst_cte_count"), 1);
  assert.equal(value(f.vector, "cst_join_count"), 1);
  assert.equal(value(f.vector, "cst_window_count"), 1);
  assert.equal(value(f.vector, "cst_having_count"), 1);
  assert.equal(value(f.vector, "cst_set_op_count"), 1);
  assert.equal(value(f.vector, "cst_subquery_count"), 2);
  assert.ok(value(f.vector, "cst_depth") > 5);
});

Deno.test("SQL the parser refuses still gets token features, with the outcome recorded", () => {
  const f = featurize({ sqlText: "SELECT a FROM t WHERE MATCH_RECOGNIZE ((( nonsense" });
  assert.equal(f.parseOutcome, "syntax-error");
  assert.equal(value(f.vector, "cst_parsed"), 0);
  assert.equal(value(f.vector, "kw_where"), 1);
});

Deno.test("context one-hots use the manifest vocabulary and qualify tables", () => {
  const { vector } = featurize({
    sqlText: "SELECT * FROM lineitem",
    user: "etl",
    catalog: "tpch",
    schema: "sf1",
  });
  assert.equal(value(vector, "user=etl"), 1);
  assert.equal(value(vector, "table=tpch.sf1.lineitem"), 1);
  const other = featurize({ sqlText: "SELECT * FROM lineitem", user: "someone-new" }).vector;
  assert.equal(value(other, "user=etl"), 0);
});

Deno.test("time features come from the query id, else the timestamp, else -1", () => {
  const fromId = featurize({ sqlText: "SELECT 1", queryId: "20250810_230000_00001_abcde" }).vector;
  assert.equal(value(fromId, "hour_of_day"), 23);
  assert.equal(value(fromId, "day_of_week"), 0);
  const fromTimestamp =
    featurize({ sqlText: "SELECT 1", timestamp: "2025-08-12T07:30:00Z" }).vector;
  assert.equal(value(fromTimestamp, "hour_of_day"), 7);
  const unknown = featurize({ sqlText: "SELECT 1" }).vector;
  assert.equal(value(unknown, "hour_of_day"), -1);
});

Deno.test("literals are normalised so dates share TF-IDF n-grams", () => {
  const a = featurize({ sqlText: "SELECT x FROM t WHERE day = '2025-08-10'" }).vector;
  const b = featurize({ sqlText: "SELECT x FROM t WHERE day = '2025-08-11'" }).vector;
  assert.deepEqual(a, b);
  assert.ok(value(a, "tfidf:= <str>") > 0);
});

Deno.test("the same input always gives the same bytes", () => {
  const input = {
    sqlText: "SELECT a, count(*) FROM t GROUP BY a",
    user: "etl",
    queryId: "20250811_123456_1_a",
  };
  assert.deepEqual(featurize(input).vector, featurize(input).vector);
});

Deno.test("writes and DDL are recognised as such", () => {
  assert.equal(featurize({ sqlText: "CREATE TABLE t AS SELECT 1" }).statementKind, "ddl");
  assert.equal(value(featurize({ sqlText: "CREATE TABLE t AS SELECT 1" }).vector, "kw_ctas"), 1);
  assert.equal(featurize({ sqlText: "INSERT INTO t VALUES 1" }).statementKind, "write");
});

Deno.test("TF-IDF fitting is deterministic and keeps frequent n-grams", () => {
  const docs = [["select", "a"], ["select", "b"], ["select", "a"]];
  const first = fitTfidf(docs, { minDocumentFrequency: 2 });
  const second = fitTfidf([...docs].reverse(), { minDocumentFrequency: 2 });
  assert.deepEqual(first, second);
  assert.deepEqual(first.vocabulary, ["select", "a", "select a"]);
});

Deno.test("a non-string sqlText does not throw", () => {
  const f = featurize({ sqlText: 42 as unknown as string });
  assert.equal(f.vector.length, names.length);
});

Deno.test("inputKey: every field the featurizer reads changes the key; others do not", () => {
  const catalogSpec: FeatureSpec = {
    ...spec,
    categories: {
      ...spec.categories,
      user: ["etl", "bi"],
      source: ["a", "b"],
      catalog: ["hive", "tpch"],
      schema: ["sf1", "sf10"],
      client_tag: ["x", "y"],
    },
  };
  const keyed = createFeaturizer(catalogSpec);
  const base = {
    sqlText: "SELECT * FROM lineitem",
    user: "etl",
    source: "a",
    catalog: "hive",
    schema: "sf1",
    clientTags: ["x"],
    queryId: "20250811_120000_00001_aaaaa",
  };
  const variants = [
    { sqlText: "SELECT * FROM orders" },
    { user: "bi" },
    { source: "b" },
    { catalog: "tpch" },
    { schema: "sf10" },
    { clientTags: ["y"] },
    { queryId: "20250811_130000_00001_aaaaa" },
  ];
  const baseKey = keyed.inputKey(base);
  const baseVector = keyed(base).vector;
  for (const change of variants) {
    const input = { ...base, ...change };
    // Each change is one the vector sees: a key that ignored it would serve a wrong decision.
    assert.notDeepEqual(keyed(input).vector, baseVector, JSON.stringify(change));
    assert.notEqual(keyed.inputKey(input), baseKey, JSON.stringify(change));
  }
  // Same hour and weekday, another query id: nothing the featurizer reads changed.
  const sameReads = { ...base, queryId: "20250811_121500_00002_bbbbb" };
  assert.equal(keyed.inputKey(sameReads), baseKey);
  assert.deepEqual(keyed(sameReads).vector, baseVector);
});
