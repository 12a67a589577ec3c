import assert from "node:assert/strict";
import { lex } from "../../src/sql/lexer.ts";

const texts = (sql: string) => lex(sql).tokens.map((t) => t.text);

Deno.test("string literals keep doubled quotes inside one token", () => {
  assert.deepEqual(texts("SELECT 'it''s', 'a'"), ["SELECT", "'it''s'", ",", "'a'"]);
});

Deno.test("quoted identifiers are one token and are not keywords", () => {
  const { tokens } = lex('SELECT "select" FROM "my ""odd"" table"');
  assert.deepEqual(tokens.map((t) => t.kind), ["word", "quoted_ident", "word", "quoted_ident"]);
});

Deno.test("line and block comments are dropped", () => {
  assert.deepEqual(texts("SELECT 1 -- JOIN\n/* JOIN */ FROM t"), ["SELECT", "1", "FROM", "T"]);
});

Deno.test("numbers include decimals and exponents", () => {
  assert.deepEqual(texts("SELECT 1.5e-3, .25, 42"), ["SELECT", "1.5e-3", ",", ".25", ",", "42"]);
});

Deno.test("multi-character operators are single tokens", () => {
  assert.deepEqual(texts("a <> b AND c >= d OR e != f || g"), [
    "A",
    "<>",
    "B",
    "AND",
    "C",
    ">=",
    "D",
    "OR",
    "E",
    "!=",
    "F",
    "||",
    "G",
  ]);
});

Deno.test("binary and unicode literals keep their prefix", () => {
  assert.deepEqual(texts("SELECT X'ff', U&'\\0041'"), ["SELECT", "X'ff'", ",", "U&'\\0041'"]);
});

Deno.test("unterminated strings and comments end at the input's end", () => {
  assert.deepEqual(texts("SELECT 'abc"), ["SELECT", "'abc"]);
  assert.deepEqual(texts("SELECT /* never closed"), ["SELECT"]);
});

Deno.test("the token cap truncates and says so", () => {
  const result = lex("SELECT 1, 2, 3, 4", 3);
  assert.equal(result.truncated, true);
  assert.equal(result.tokens.length, 3);
});

Deno.test("parenthesis depth is measured", () => {
  assert.equal(lex("SELECT ((1) + (2))").maxParenDepth, 2);
});
