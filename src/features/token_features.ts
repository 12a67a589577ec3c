/**
 * Features computed from the token stream alone. They exist for every input, including the
 * ones the CST parser refuses or is not allowed to see, so the model always has a floor.
 *
 * @module
 */

import type { Token } from "../sql/lexer.ts";

/** Names of the token features, in vector order. */
export const TOKEN_FEATURE_NAMES = [
  "sql_length",
  "token_count",
  "kw_select",
  "kw_join",
  "kw_cross_join",
  "kw_outer_join",
  "kw_group_by",
  "kw_order_by",
  "kw_over",
  "kw_distinct",
  "kw_union",
  "kw_intersect_except",
  "kw_with",
  "kw_ctas",
  "kw_insert",
  "kw_update",
  "kw_delete",
  "kw_merge",
  "kw_create",
  "kw_analyze",
  "kw_where",
  "kw_having",
  "kw_limit",
  "kw_case",
  "kw_and",
  "kw_or",
  "kw_not",
  "kw_like",
  "kw_regexp",
  "kw_between",
  "inequality_count",
  "in_list_count",
  "in_list_max",
  "wildcard_count",
  "shuffle_risk",
  "string_literal_count",
  "number_literal_count",
  "function_call_count",
  "subselect_count",
  "max_paren_depth",
  "limit_value_log",
  "eq_literal_count",
] as const;

/** One token feature name. */
export type TokenFeatureName = typeof TOKEN_FEATURE_NAMES[number];

const INEQUALITIES = new Set(["<", ">", "<=", ">=", "<>", "!="]);
const REGEXP_WORDS = new Set([
  "REGEXP_LIKE",
  "REGEXP_EXTRACT",
  "REGEXP_REPLACE",
  "RLIKE",
  "REGEXP",
]);
/** Words followed by `(` that are syntax, not function calls. */
const NOT_FUNCTIONS = new Set([
  "IN",
  "AS",
  "ON",
  "USING",
  "OVER",
  "EXISTS",
  "VALUES",
  "AND",
  "OR",
  "NOT",
  "FROM",
  "JOIN",
  "WHERE",
  "SELECT",
  "BY",
]);

/** Words that type the string literal after them (`DATE '2001-01-01'`). */
const TYPED_LITERALS = new Set(["DATE", "TIME", "TIMESTAMP", "INTERVAL", "DECIMAL", "REAL"]);

const isLiteral = (t: Token | undefined) => t?.kind === "number" || t?.kind === "string";

/** A literal starts at `i`: `5`, `'x'`, `-5`, `DATE '2001-01-01'`. */
function isLiteralAt(tokens: readonly Token[], i: number): boolean {
  const t = tokens[i];
  if (isLiteral(t)) return true;
  if (t?.text === "-") return tokens[i + 1]?.kind === "number";
  return t?.kind === "word" && TYPED_LITERALS.has(t.text) && tokens[i + 1]?.kind === "string";
}

/**
 * Counts keywords, predicates and shape markers in one pass over the tokens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "../sql/lexer.ts";
 * import { tokenFeatures } from "./token_features.ts";
 * const sql = "SELECT * FROM a JOIN b ON a.x = b.x WHERE a.y IN (1, 2, 3)";
 * const f = tokenFeatures(sql, lex(sql));
 * assert(f.kw_join === 1 && f.in_list_max === 3 && f.wildcard_count === 1);
 * ```
 */
export function tokenFeatures(
  sql: string,
  lexed: { tokens: readonly Token[]; maxParenDepth: number },
): Record<TokenFeatureName, number> {
  const f = Object.fromEntries(TOKEN_FEATURE_NAMES.map((name) => [name, 0])) as Record<
    TokenFeatureName,
    number
  >;
  const tokens = lexed.tokens;
  f.sql_length = sql.length;
  f.token_count = tokens.length;
  f.max_paren_depth = lexed.maxParenDepth;
  let sawCreate = false;
  let limit = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const text = t.text;
    const prev = tokens[i - 1]?.text;
    const next = tokens[i + 1]?.text;
    if (t.kind === "string") f.string_literal_count++;
    else if (t.kind === "number") f.number_literal_count++;
    else if (t.kind === "operator") {
      if (INEQUALITIES.has(text)) f.inequality_count++;
      // `column = literal` (either side): a selective filter shrinks what joins and aggregates
      // downstream of the scan see, though not the scan itself.
      if (text === "=" && (isLiteralAt(tokens, i + 1) || isLiteral(tokens[i - 1]))) {
        f.eq_literal_count++;
      }
      if (
        text === "*" && (prev === "SELECT" || prev === "," || prev === "." || prev === "DISTINCT")
      ) {
        f.wildcard_count++;
      }
    } else if (t.kind === "word") {
      if (next === "(" && !NOT_FUNCTIONS.has(text)) f.function_call_count++;
      switch (text) {
        case "SELECT":
          f.kw_select++;
          if (prev === "(") f.subselect_count++;
          if (sawCreate) f.kw_ctas = 1;
          break;
        case "JOIN":
          f.kw_join++;
          if (prev === "CROSS") f.kw_cross_join++;
          if (prev === "OUTER" || prev === "LEFT" || prev === "RIGHT" || prev === "FULL") {
            f.kw_outer_join++;
          }
          break;
        case "BY":
          if (prev === "GROUP") f.kw_group_by++;
          else if (prev === "ORDER") f.kw_order_by++;
          break;
        case "OVER":
          f.kw_over++;
          break;
        case "DISTINCT":
          f.kw_distinct++;
          break;
        case "UNION":
          f.kw_union++;
          break;
        case "INTERSECT":
        case "EXCEPT":
          f.kw_intersect_except++;
          break;
        case "WITH":
          f.kw_with++;
          break;
        case "INSERT":
          f.kw_insert++;
          break;
        case "UPDATE":
          f.kw_update++;
          break;
        case "DELETE":
          f.kw_delete++;
          break;
        case "MERGE":
          f.kw_merge++;
          break;
        case "CREATE":
          f.kw_create++;
          sawCreate = true;
          break;
        case "ANALYZE":
          f.kw_analyze++;
          break;
        case "WHERE":
          f.kw_where++;
          break;
        case "HAVING":
          f.kw_having++;
          break;
        case "LIMIT":
        case "FETCH":
          f.kw_limit++;
          if (tokens[i + 1]?.kind === "number") limit = Math.max(limit, Number(next) || 0);
          break;
        case "CASE":
          f.kw_case++;
          break;
        case "AND":
          f.kw_and++;
          break;
        case "OR":
          f.kw_or++;
          break;
        case "NOT":
          f.kw_not++;
          break;
        case "LIKE":
          f.kw_like++;
          break;
        case "BETWEEN":
          f.kw_between++;
          break;
        case "IN":
          if (next === "(" && tokens[i + 2]?.text !== "SELECT") {
            f.in_list_count++;
            f.in_list_max = Math.max(f.in_list_max, inListLength(tokens, i + 2));
          }
          break;
      }
      if (REGEXP_WORDS.has(text)) f.kw_regexp++;
    }
  }
  f.shuffle_risk = f.kw_join >= 2 && (f.kw_order_by > 0 || f.kw_distinct > 0) ? 1 : 0;
  f.limit_value_log = limit > 0 ? Math.log10(limit + 1) : 0;
  return f;
}

/** Number of top-level items in the parenthesised list whose first token is at `start`. */
function inListLength(tokens: readonly Token[], start: number): number {
  let depth = 0;
  let items = 1;
  for (let j = start; j < tokens.length; j++) {
    const text = tokens[j].text;
    if (text === "(") depth++;
    else if (text === ")") {
      if (depth === 0) return items;
      depth--;
    } else if (text === "," && depth === 0) items++;
  }
  return items;
}
