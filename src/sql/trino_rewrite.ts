/**
 * A token-level pass that rewrites Trino-only syntax into shapes `sql-parser-cst`'s PostgreSQL
 * dialect accepts, keeping what the CST features count (joins, subqueries, functions, windows,
 * clauses) and dropping only what they do not see (types, JSON path modes, time-travel
 * points, row-pattern definitions). It reads a query template, so it is a pure function of the
 * template and the CST features stay a pure function of it too.
 *
 * @module
 */

import type { Token } from "./lexer.ts";

/** Functions whose arguments use keywords instead of commas (`trim(x FROM y)`). */
const KEYWORD_ARGUMENT_FUNCTIONS = new Set(["TRIM", "EXTRACT", "POSITION", "SUBSTRING"]);
/** Words that separate such arguments; they become commas. */
const ARGUMENT_KEYWORDS = new Set(["FROM", "FOR", "IN"]);
/** Trim's side words, which the parser does not know. */
const TRIM_SIDES = new Set(["BOTH", "LEADING", "TRAILING"]);
/** SQL/JSON functions: their clauses (`WITH WRAPPER`, `RETURNING t`, `KEY k VALUE v`) go. */
const JSON_FUNCTIONS = new Set([
  "JSON_QUERY",
  "JSON_VALUE",
  "JSON_EXISTS",
  "JSON_OBJECT",
  "JSON_ARRAY",
  "JSON_TABLE",
]);
const JSON_CLAUSE_WORDS = new Set([
  "WITH",
  "WITHOUT",
  "RETURNING",
  "PASSING",
  "DEFAULT",
  "ON",
  "ERROR",
  "EMPTY",
  "FORMAT",
  "KEY",
  "VALUE",
  "KEEP",
  "OMIT",
  "ABSENT",
  "NULL",
  "COLUMNS",
]);
/** Typed literals the parser does not know; the prefix goes, the literal stays. */
const UNKNOWN_LITERAL_TYPES = new Set(["DECIMAL", "REAL", "DOUBLE", "TIME", "VARCHAR", "CHAR"]);
/** Function names that are keywords to the parser: renamed, still counted as calls. */
const KEYWORD_FUNCTION_NAMES = new Map([["IF", "if_"], ["TRY_CAST", "cast"], ["TABLE", "table_"]]);
/** Where a time-travel point (`FOR VERSION AS OF x`) ends. */
const CLAUSE_STARTS = new Set([
  "WHERE",
  "JOIN",
  "INNER",
  "LEFT",
  "RIGHT",
  "FULL",
  "CROSS",
  "ON",
  "USING",
  "GROUP",
  "ORDER",
  "LIMIT",
  "OFFSET",
  "FETCH",
  "HAVING",
  "WINDOW",
  "UNION",
  "INTERSECT",
  "EXCEPT",
  "AS",
  "TABLESAMPLE",
]);

/** Index of the `)` closing the `(` at `open` (or the end), so a group can be skipped whole. */
function closingParen(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i].text;
    if (t === "(") depth++;
    else if (t === ")" && --depth === 0) return i;
  }
  return tokens.length - 1;
}

const isWord = (t: Token | undefined, text: string) => t?.kind === "word" && t.text === text;

/**
 * Rewrites the tokens of a template (or any SQL) into text for the parser. Never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { rewriteForParser } from "./trino_rewrite.ts";
 * assert.equal(
 *   rewriteForParser(lex("select trim ( both 'x' from name ) from t").tokens),
 *   "SELECT TRIM ( 'x' , NAME ) FROM T",
 * );
 * ```
 */
export function rewriteForParser(tokens: readonly Token[]): string {
  const out: string[] = [];
  /** Per open parenthesis: the call it belongs to, so argument rewrites know their scope. */
  const calls: Array<{ name: string; dropping: boolean; silent: boolean }> = [];
  let i = 0;
  if (isWord(tokens[0], "WITH") && isWord(tokens[1], "FUNCTION")) i = skipInlineFunctions(tokens);
  for (; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    const call = calls[calls.length - 1];
    if (t.text === ")") {
      if (!calls.pop()?.silent) out.push(")");
      continue;
    }
    if (t.text === "(") {
      const name = tokens[i - 1]?.kind === "word" ? tokens[i - 1].text : "";
      const dropping = call?.dropping ?? false;
      calls.push({ name, dropping, silent: dropping });
      if (!dropping) out.push("(");
      continue;
    }
    if (call?.dropping) continue;
    if (t.kind === "word") {
      // Row-pattern recognition and `WITHIN GROUP (ORDER BY …)` carry no counted structure the
      // parser could see; both are dropped whole.
      if (t.text === "MATCH_RECOGNIZE" && next?.text === "(") {
        i = closingParen(tokens, i + 1);
        continue;
      }
      if (t.text === "WITHIN" && isWord(next, "GROUP") && tokens[i + 2]?.text === "(") {
        i = closingParen(tokens, i + 2);
        continue;
      }
      if ((t.text === "IGNORE" || t.text === "RESPECT") && isWord(next, "NULLS")) {
        i++;
        continue;
      }
      if (t.text === "FOR" && (isWord(next, "TIMESTAMP") || isWord(next, "VERSION"))) {
        if (isWord(tokens[i + 2], "AS") && isWord(tokens[i + 3], "OF")) {
          i = endOfTimeTravel(tokens, i + 4);
          continue;
        }
      }
      if (t.text === "SYMMETRIC" && isWord(tokens[i - 1], "BETWEEN")) continue;
      // Window frames in peer groups (`GROUPS BETWEEN …`) count as one frame like `ROWS`.
      if (t.text === "GROUPS" && (isWord(next, "BETWEEN") || isWord(next, "UNBOUNDED"))) {
        out.push("ROWS");
        continue;
      }
      if (t.text === "DISTINCT" && isWord(tokens[i - 1], "BY") && isWord(tokens[i - 2], "GROUP")) {
        continue;
      }
      if (UNKNOWN_LITERAL_TYPES.has(t.text) && next?.kind === "string") continue;
      if (next?.text === "(" && KEYWORD_FUNCTION_NAMES.has(t.text)) {
        out.push(KEYWORD_FUNCTION_NAMES.get(t.text)!);
        continue;
      }
      if (call && KEYWORD_ARGUMENT_FUNCTIONS.has(call.name)) {
        if (TRIM_SIDES.has(t.text)) continue;
        if (ARGUMENT_KEYWORDS.has(t.text)) {
          // `trim(FROM x)`: a separator right after the parenthesis separates nothing.
          if (out[out.length - 1] !== "(") out.push(",");
          continue;
        }
      }
      if (call?.name === "LISTAGG" && t.text === "ON" && isWord(next, "OVERFLOW")) {
        call.dropping = true;
        continue;
      }
      if (call && JSON_FUNCTIONS.has(call.name) && JSON_CLAUSE_WORDS.has(t.text)) {
        call.dropping = true;
        continue;
      }
      if (call && (call.name === "CAST" || call.name === "TRY_CAST") && t.text === "AS") {
        // Trino's types (`ROW(x bigint)`, `ARRAY(varchar)`) are not PostgreSQL's; the type is
        // not a feature, so any type the parser knows stands in.
        out.push("AS", "VARCHAR");
        call.dropping = true;
        continue;
      }
    }
    out.push(t.text);
  }
  return out.join(" ");
}

/** Index of the query after `WITH FUNCTION f(…) RETURNS t RETURN e [, FUNCTION …]`. */
function skipInlineFunctions(tokens: readonly Token[]): number {
  let depth = 0;
  for (let i = 2; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.text === "(") depth++;
    else if (t.text === ")") depth--;
    else if (depth === 0 && t.kind === "word") {
      if (t.text === "BEGIN") {
        // A routine body with statements: skip to its END.
        while (i < tokens.length && !isWord(tokens[i], "END")) i++;
      } else if (t.text === "SELECT" || t.text === "VALUES") return i;
      else if (t.text === "WITH" && !isWord(tokens[i + 1], "FUNCTION")) return i;
    }
  }
  return tokens.length;
}

/** Index of the last token of a time-travel point's expression. */
function endOfTimeTravel(tokens: readonly Token[], start: number): number {
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.text === "(") depth++;
    else if (t.text === ")") {
      if (depth === 0) return i - 1;
      depth--;
    } else if (
      depth === 0 && (t.text === "," || (t.kind === "word" && CLAUSE_STARTS.has(t.text)))
    ) {
      // A typed literal's type word (`TIMESTAMP '…'`) is part of the point, not a clause.
      if (i > start) return i - 1;
    }
  }
  return tokens.length - 1;
}
