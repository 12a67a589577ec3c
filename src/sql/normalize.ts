/**
 * Literal-free views of a query: the token stream used for TF-IDF n-grams and the query
 * template whose fingerprint keys the template cache. Both replace literals by placeholders so
 * that `day = '2025-08-10'` and `day = '2025-08-11'` look the same.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { lex, type Token } from "./lexer.ts";
import { LruCache } from "../lru_cache.ts";

/** Placeholder for string literals (including typed ones such as `DATE '2025-08-10'`). */
export const STRING_PLACEHOLDER = "<str>";
/** Placeholder for numeric literals. */
export const NUMBER_PLACEHOLDER = "<num>";

const TYPED_LITERAL_PREFIXES = new Set([
  "DATE",
  "TIMESTAMP",
  "TIME",
  "INTERVAL",
  "DECIMAL",
  "REAL",
]);

/**
 * Maps tokens to lower-case words with literals replaced, for n-gram features.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { normalizedTokens } from "./normalize.ts";
 * const words = normalizedTokens(lex("SELECT * FROM t WHERE day = DATE '2025-08-10'").tokens);
 * assert(words.join(" ") === "select * from t where day = <str>");
 * ```
 */
export function normalizedTokens(tokens: readonly Token[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    switch (token.kind) {
      case "string":
        if (out.length > 0 && TYPED_LITERAL_PREFIXES.has(tokens[i - 1]?.text)) out.pop();
        out.push(STRING_PLACEHOLDER);
        break;
      case "number":
        out.push(NUMBER_PLACEHOLDER);
        break;
      case "quoted_ident":
        out.push(token.text.slice(1, -1).replaceAll('""', '"').toLowerCase());
        break;
      default:
        out.push(token.text.toLowerCase());
    }
  }
  return out;
}

/**
 * The query's template: normalised tokens with runs of literal lists (IN-lists, VALUES rows)
 * collapsed, so every query that differs only in its literals shares one template.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { queryTemplate } from "./normalize.ts";
 * const a = queryTemplate(lex("select * from t where id in (1, 2, 3)").tokens);
 * const b = queryTemplate(lex("SELECT *  FROM t WHERE id IN (7)").tokens);
 * assert(a === b);
 * ```
 */
export function queryTemplate(tokens: readonly Token[]): string {
  return templateOfWords(normalizedTokens(tokens));
}

/**
 * {@linkcode queryTemplate} from already normalised tokens, for a caller that needs the words
 * too (the featurizer's TF-IDF): the tokens are normalised once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { normalizedTokens, queryTemplate, templateOfWords } from "./normalize.ts";
 * const tokens = lex("select 1, 2").tokens;
 * assert.equal(templateOfWords(normalizedTokens(tokens)), queryTemplate(tokens));
 * ```
 */
export function templateOfWords(words: readonly string[]): string {
  const out: string[] = [];
  for (const word of words) {
    const isLiteral = word === STRING_PLACEHOLDER || word === NUMBER_PLACEHOLDER;
    const previous = out[out.length - 1];
    if (isLiteral && previous === ",") {
      const beforeComma = out[out.length - 2];
      if (beforeComma === STRING_PLACEHOLDER || beforeComma === NUMBER_PLACEHOLDER) {
        out.pop();
        continue;
      }
    }
    out.push(word);
  }
  return out.join(" ");
}

/** Literal stand-ins of the template: still SQL, so the template itself can be parsed. */
const TEMPLATE_STRING = "''";
const TEMPLATE_NUMBER = "0";

/**
 * The query's parse template: the SQL with every literal replaced by `''` or `0`, words
 * lower-cased, comments and layout dropped, and runs of literal lists collapsed like
 * {@linkcode queryTemplate}'s. Unlike the template it is still SQL (typed literals keep their
 * type, quoted identifiers their quotes, both because the parser needs them): the CST features
 * are computed from it, so they are a pure function of it, and it keys the CST cache.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { parseTemplate } from "./normalize.ts";
 * const a = parseTemplate(lex("select * from t where id in (1, 2, 3)").tokens);
 * const b = parseTemplate(lex("SELECT *  FROM t WHERE id IN (7)").tokens);
 * assert.equal(a, b);
 * assert.equal(a, "select * from t where id in ( 0 )");
 * ```
 */
export function parseTemplate(tokens: readonly Token[]): string {
  const out: string[] = [];
  for (const token of tokens) {
    let word: string;
    switch (token.kind) {
      case "string":
        word = TEMPLATE_STRING;
        break;
      case "number":
        word = TEMPLATE_NUMBER;
        break;
      case "word":
      case "quoted_ident":
        word = token.text.toLowerCase();
        break;
      default:
        word = token.text;
    }
    const isLiteral = word === TEMPLATE_STRING || word === TEMPLATE_NUMBER;
    if (isLiteral && out.length >= 2 && out[out.length - 1] === ",") {
      const beforeComma = out[out.length - 2];
      if (beforeComma === TEMPLATE_STRING || beforeComma === TEMPLATE_NUMBER) {
        out.pop();
        continue;
      }
    }
    out.push(word);
  }
  return out.join(" ");
}

/**
 * A short, stable fingerprint of a template (SHA-256, first 16 hex digits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { templateFingerprint } from "./normalize.ts";
 * assert(templateFingerprint("select <num>").length === 16);
 * ```
 */
export function templateFingerprint(template: string): string {
  let entry = fingerprints.get(template);
  if (entry === undefined) {
    entry = {
      fingerprint: createHash("sha256").update(template).digest("hex").slice(0, 16),
      bytes: 96 + 2 * template.length,
    };
    fingerprints.set(template, entry);
  }
  return entry.fingerprint;
}

/**
 * Fingerprints of recent templates, bounded in bytes (~4,000 typical templates): a warm
 * template's fingerprint is a look-up, not a SHA-256 (the template is its own key, so no two
 * templates can share an entry).
 */
const fingerprints = new LruCache<string, { fingerprint: string; bytes: number }>(
  Number.MAX_SAFE_INTEGER,
  { maxBytes: 2 * 1024 * 1024, sizeOf: (entry) => entry.bytes },
);

/**
 * The template fingerprint of a SQL text: the template cache's key. The router (through the
 * featurizer), the feedback loop and the ext_proc retry all key the cache with this value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sqlTemplateFingerprint } from "./normalize.ts";
 * assert(
 *   sqlTemplateFingerprint("SELECT * FROM t WHERE d = DATE '2025-08-10'") ===
 *     sqlTemplateFingerprint("select * from t where d = date '2025-08-11'"),
 * );
 * ```
 */
export function sqlTemplateFingerprint(sql: string): string {
  return templateFingerprint(queryTemplate(lex(sql).tokens));
}
