import assert from "node:assert/strict";
import { lex } from "../../src/sql/lexer.ts";
import {
  normalizedTokens,
  queryTemplate,
  sqlTemplateFingerprint,
  templateFingerprint,
} from "../../src/sql/normalize.ts";

const template = (sql: string) => queryTemplate(lex(sql).tokens);

Deno.test("dates and timestamps in WHERE clauses share one template", () => {
  assert.equal(
    template(
      "SELECT count(*) FROM logs WHERE day = DATE '2025-08-10' AND ts > TIMESTAMP '2025-08-10 01:00:00'",
    ),
    template(
      "select count(*) from logs where day = date '2025-08-11' and ts > timestamp '2025-08-11 02:00:00'",
    ),
  );
});

Deno.test("IN-lists of any length share one template", () => {
  assert.equal(
    template("SELECT * FROM t WHERE k IN (1, 2, 3, 4)"),
    template("SELECT * FROM t WHERE k IN (9)"),
  );
});

Deno.test("different structure gives different templates", () => {
  assert.notEqual(template("SELECT a FROM t"), template("SELECT b FROM t"));
});

Deno.test("whitespace, comments and keyword case do not change the fingerprint", () => {
  const a = templateFingerprint(template("SELECT a\n  FROM t -- hourly\nWHERE x = 1"));
  const b = templateFingerprint(template("select a from t where x = 2"));
  assert.equal(a, b);
  assert.match(a, /^[0-9a-f]{16}$/);
});

Deno.test("n-gram tokens replace literals and unquote identifiers", () => {
  assert.deepEqual(
    normalizedTokens(lex(`SELECT "Col" FROM t WHERE x = 'a' AND y = 3`).tokens),
    ["select", "col", "from", "t", "where", "x", "=", "<str>", "and", "y", "=", "<num>"],
  );
});

Deno.test("the SQL fingerprint is the one the featurizer computes for the template cache", () => {
  const sql = "SELECT * FROM t WHERE d = DATE '2025-01-01' AND x = 1";
  assert.equal(sqlTemplateFingerprint(sql), templateFingerprint(template(sql)));
  assert.equal(
    sqlTemplateFingerprint(sql),
    sqlTemplateFingerprint("select *\n from t where d = date '2024-12-31' and x = 99"),
  );
  assert.notEqual(
    sqlTemplateFingerprint("SELECT a FROM t"),
    sqlTemplateFingerprint("SELECT b FROM t"),
  );
});
