import assert from "node:assert/strict";
import { lex } from "../../src/sql/lexer.ts";
import { mustRunOnLarge, statementKind } from "../../src/sql/statement_kind.ts";

const kindOf = (sql: string) => statementKind(lex(sql).tokens);

Deno.test("queries are reads", () => {
  for (
    const sql of ["SELECT 1", "  (SELECT 1)", "WITH a AS (SELECT 1) SELECT * FROM a", "VALUES 1"]
  ) {
    assert.equal(kindOf(sql), "read", sql);
  }
});

Deno.test("DML statements are writes, including WITH ... INSERT", () => {
  for (
    const sql of [
      "INSERT INTO t VALUES 1",
      "update t set a = 1",
      "DELETE FROM t",
      "MERGE INTO t USING s ON t.k = s.k WHEN MATCHED THEN DELETE",
      "WITH s AS (SELECT 1) INSERT INTO t SELECT * FROM s",
    ]
  ) {
    assert.equal(kindOf(sql), "write", sql);
  }
});

Deno.test("DDL, CTAS and ANALYZE are DDL", () => {
  for (
    const sql of [
      "CREATE TABLE t AS SELECT 1",
      "DROP TABLE t",
      "ALTER TABLE t ADD COLUMN c int",
      "ANALYZE t",
    ]
  ) {
    assert.equal(kindOf(sql), "ddl", sql);
  }
});

Deno.test("metadata statements and plain EXPLAIN are utilities", () => {
  for (const sql of ["SHOW TABLES", "DESCRIBE t", "EXPLAIN SELECT 1", "USE tpch.tiny"]) {
    assert.equal(kindOf(sql), "utility", sql);
  }
});

Deno.test("EXPLAIN ANALYZE is classified by the statement it runs", () => {
  assert.equal(kindOf("EXPLAIN ANALYZE SELECT 1"), "read");
  assert.equal(kindOf("EXPLAIN ANALYZE INSERT INTO t VALUES 1"), "write");
});

Deno.test("an unrecognised statement is treated as a write, so it runs on Large", () => {
  assert.equal(kindOf("FROBNICATE everything"), "write");
  assert.equal(mustRunOnLarge(kindOf("FROBNICATE everything")), true);
  assert.equal(mustRunOnLarge("read"), false);
});
