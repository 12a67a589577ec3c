/**
 * A Trino-aware SQL lexer: quoted identifiers, string literals with `''` escapes,
 * comments, numbers and operators. It never throws: any byte sequence yields tokens.
 *
 * @module
 */

/** What a token is. Comments and whitespace are dropped, never returned. */
export type TokenKind =
  | "word"
  | "quoted_ident"
  | "string"
  | "number"
  | "operator"
  | "punct";

/** One lexical token. `text` is upper-cased for words, verbatim otherwise. */
export interface Token {
  /** What kind of token it is. */
  readonly kind: TokenKind;
  /** The token's text (words upper-cased). */
  readonly text: string;
}

/** How a lexing run ended: completely, or cut at `maxTokens`. */
export interface LexResult {
  /** The tokens, in order, at most `maxTokens`. */
  readonly tokens: Token[];
  /** True when the input had more tokens than `maxTokens`. */
  readonly truncated: boolean;
  /** Deepest parenthesis nesting seen in the lexed part. */
  readonly maxParenDepth: number;
}

const MULTI_CHAR_OPERATORS = ["<>", "!=", "<=", ">=", "||", "=>", "->", "::"];
const SINGLE_CHAR_OPERATORS = new Set(["=", "<", ">", "+", "-", "*", "/", "%", "|", "^", "&", "~"]);
const PUNCTUATION = new Set(["(", ")", ",", ";", ".", "[", "]", "{", "}", "?", ":"]);

function isWordStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36 || c === 64;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0 || c === 0xa0 || c === 0xfeff;
}

/** Index just after a quoted section that starts at `start` and doubles `quote` to escape it. */
function endOfQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    const found = sql.indexOf(quote, i);
    if (found < 0) return sql.length;
    if (sql[found + 1] === quote) {
      i = found + 2;
      continue;
    }
    return found + 1;
  }
  return sql.length;
}

/**
 * Tokens read at most by default: a longer query is measured on its first part. Everything that
 * lexes a query (featurizer, template fingerprint, statement kind, training) uses this same
 * limit, so they all see the same tokens.
 */
export const MAX_LEXED_TOKENS = 20_000;

/**
 * Splits SQL into tokens, stopping after `maxTokens` so that hostile input costs bounded time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * const { tokens } = lex("select 'it''s' from t -- note");
 * assert(tokens.map((t) => t.text).join(" ") === "SELECT 'it''s' FROM T");
 * ```
 */
export function lex(sql: string, maxTokens = MAX_LEXED_TOKENS): LexResult {
  if (last !== undefined && last.sql === sql && last.maxTokens === maxTokens) return last.result;
  const result = lexOnce(sql, maxTokens);
  last = { sql, maxTokens, result };
  return result;
}

/**
 * The latest lex, returned again for the same text: a routing request lexes its SQL in two
 * places (its history keys, then its features). A result is shared, so nobody may change it.
 */
let last: { sql: string; maxTokens: number; result: LexResult } | undefined;

function lexOnce(sql: string, maxTokens: number): LexResult {
  const tokens: Token[] = [];
  let depth = 0;
  let maxParenDepth = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    if (tokens.length >= maxTokens) return { tokens, truncated: true, maxParenDepth };
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const ch = sql[i];
    const next = sql[i + 1];
    if (ch === "-" && next === "-") {
      const eol = sql.indexOf("\n", i);
      i = eol < 0 ? n : eol + 1;
      continue;
    }
    if (ch === "/" && next === "*") {
      const close = sql.indexOf("*/", i + 2);
      i = close < 0 ? n : close + 2;
      continue;
    }
    if (ch === "'") {
      const end = endOfQuoted(sql, i, "'");
      tokens.push({ kind: "string", text: sql.slice(i, end) });
      i = end;
      continue;
    }
    if (ch === '"' || ch === "`") {
      const end = endOfQuoted(sql, i, ch);
      tokens.push({ kind: "quoted_ident", text: sql.slice(i, end) });
      i = end;
      continue;
    }
    if (isDigit(c) || (ch === "." && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n && (isWordPart(sql.charCodeAt(j)) || sql[j] === ".")) {
        if ((sql[j] === "e" || sql[j] === "E") && (sql[j + 1] === "+" || sql[j + 1] === "-")) j++;
        j++;
      }
      tokens.push({ kind: "number", text: sql.slice(i, j) });
      i = j;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j).toUpperCase();
      // Binary and Unicode literals (X'ff', U&'\0041') keep their prefix with the string.
      const quoteAt = word === "U" && sql[j] === "&" ? j + 1 : j;
      if (sql[quoteAt] === "'" && (word === "X" || word === "U")) {
        const end = endOfQuoted(sql, quoteAt, "'");
        tokens.push({ kind: "string", text: sql.slice(i, end) });
        i = end;
        continue;
      }
      tokens.push({ kind: "word", text: word });
      i = j;
      continue;
    }
    const two = sql.slice(i, i + 2);
    if (MULTI_CHAR_OPERATORS.includes(two)) {
      tokens.push({ kind: "operator", text: two });
      i += 2;
      continue;
    }
    if (ch === "(") maxParenDepth = Math.max(maxParenDepth, ++depth);
    else if (ch === ")") depth = Math.max(0, depth - 1);
    if (PUNCTUATION.has(ch)) tokens.push({ kind: "punct", text: ch });
    else if (SINGLE_CHAR_OPERATORS.has(ch)) tokens.push({ kind: "operator", text: ch });
    // Any other character (control bytes, stray symbols) is skipped: it carries no signal.
    i++;
  }
  return { tokens, truncated: false, maxParenDepth };
}
