/**
 * Features from the concrete syntax tree of `sql-parser-cst`, computed from the query's
 * literal-free template (so they are a pure function of it, and a template seen before needs no
 * parse: see `cst_cache.ts`). Trino-only syntax is first rewritten into shapes the parser knows
 * (`src/sql/trino_rewrite.ts`). The parser is synchronous and its cost grows with the input
 * (and deep nesting overflows its stack), so it only sees templates that pass a size and
 * nesting guard; everything else falls back to token features.
 *
 * The parser (GPL-2.0-or-later) is optional at run time: an npm user may install the library
 * without it. Then every query gets the outcome `parser-absent` (token features only, the same
 * vector a syntax error gives, reason `parse-fallback`) and the first such query prints one
 * warning saying so. One featurizer either way.
 *
 * @module
 */

import { lex } from "../sql/lexer.ts";
import { rewriteForParser } from "../sql/trino_rewrite.ts";

/** Names of the CST features, in vector order. */
export const CST_FEATURE_NAMES = [
  "cst_parsed",
  "cst_depth",
  "cst_node_count",
  "cst_cte_count",
  "cst_subquery_count",
  "cst_join_count",
  "cst_join_density",
  "cst_window_count",
  "cst_distinct_count",
  "cst_order_by_count",
  "cst_limit_count",
  "cst_having_count",
  "cst_group_by_count",
  "cst_set_op_count",
  "cst_table_count",
  "cst_func_count",
  "cst_case_count",
] as const;

/** One CST feature name. */
export type CstFeatureName = typeof CST_FEATURE_NAMES[number];

/** Limits that keep a parse inside the 50 ms budget on the slowest machine we measured. */
export interface ParseGuard {
  /** Longest SQL text handed to the parser (a single huge literal is slow to parse too). */
  readonly maxChars: number;
  /** Largest token count handed to the parser. */
  readonly maxTokens: number;
  /** Deepest parenthesis nesting handed to the parser (its recursion overflows near 375). */
  readonly maxParenDepth: number;
}

/**
 * Defaults set on the 2-core reference machine, where the parser cost ~12 µs per token, so 1,200
 * tokens stay near 15 ms, well inside the 50 ms budget (`deno task bench` prints the CST parse
 * stage, `bench/in_process.ts`).
 */
export const DEFAULT_PARSE_GUARD: ParseGuard = {
  maxChars: 64_000,
  maxTokens: 1_200,
  maxParenDepth: 64,
};

/**
 * Why CST features are missing, when they are. `over-budget`: the parse did not finish within
 * the routing budget (the only outcome that depends on timing; it is never cached).
 */
export type ParseOutcome =
  | "parsed"
  | "too-large"
  | "too-deep"
  | "syntax-error"
  | "over-budget"
  | "parser-absent";

/** CST features plus how the parse went. */
export interface CstResult {
  /** One value per CST feature (zeros when the parse did not succeed). */
  readonly features: Record<CstFeatureName, number>;
  /** Whether the parser saw the query and, if not, why. */
  readonly outcome: ParseOutcome;
}

/** The SQL dialect of `sql-parser-cst` closest to Trino; `test/unit/cst_dialect_test.ts` measures it. */
export const PARSER_DIALECT = "postgresql";

type Parse = typeof import("sql-parser-cst").parse;

/** The parser, or why it could not be loaded (the package is an optional dependency on npm). */
const parser: { parse: Parse } | { missing: string } = await import("sql-parser-cst").then(
  (module) => ({ parse: module.parse }),
  (error: unknown) => ({ missing: error instanceof Error ? error.message : String(error) }),
);
let warnedMissing = false;

function emptyFeatures(): Record<CstFeatureName, number> {
  return Object.fromEntries(CST_FEATURE_NAMES.map((n) => [n, 0])) as Record<CstFeatureName, number>;
}

/**
 * The result for a query whose CST features are missing for `outcome`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unparsed } from "./cst_features.ts";
 * assert.equal(unparsed("too-large").features.cst_parsed, 0);
 * ```
 */
export function unparsed(outcome: Exclude<ParseOutcome, "parsed">): CstResult {
  return { features: emptyFeatures(), outcome };
}

/**
 * Parses a parse template (see `parseTemplate`) when the guard allows, and measures the tree.
 * Never throws; a pure function of `template` and `guard`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cstFeatures } from "./cst_features.ts";
 * const r = cstFeatures("select a from x join y on x . k = y . k");
 * assert.equal(r.outcome, "parsed");
 * assert.equal(r.features.cst_join_count, 1);
 * ```
 */
export function cstFeatures(template: string, guard: ParseGuard = DEFAULT_PARSE_GUARD): CstResult {
  if (template.length > guard.maxChars) return unparsed("too-large");
  const lexed = lex(template, guard.maxTokens + 1);
  if (lexed.truncated || lexed.tokens.length > guard.maxTokens) return unparsed("too-large");
  if (lexed.maxParenDepth > guard.maxParenDepth) return unparsed("too-deep");
  if ("missing" in parser) {
    if (!warnedMissing) {
      warnedMissing = true;
      console.warn(
        "trino-smart-router: sql-parser-cst could not be loaded " +
          `(${parser.missing}); CST features are off and every query is decided on token ` +
          "features only (parseOutcome 'parser-absent', reason 'parse-fallback'). " +
          "Install sql-parser-cst (GPL-2.0-or-later) to enable them.",
      );
    }
    return unparsed("parser-absent");
  }
  let tree: unknown;
  try {
    tree = parser.parse(rewriteForParser(lexed.tokens), {
      dialect: PARSER_DIALECT,
      includeRange: false,
      paramTypes: ["?"],
    });
  } catch {
    // Syntax errors and stack overflows alike: the token features still stand.
    return unparsed("syntax-error");
  }
  const features = emptyFeatures();
  measureTree(tree, features);
  features.cst_parsed = 1;
  const n = features.cst_table_count;
  features.cst_join_density = n > 1 ? features.cst_join_count / (n * (n - 1) / 2) : 0;
  return { features, outcome: "parsed" };
}

type Node = { type?: string; [key: string]: unknown };

/** Walks the tree iteratively (no recursion, so depth cannot overflow here) and counts node kinds. */
function measureTree(root: unknown, f: Record<CstFeatureName, number>): void {
  const tables: string[] = [];
  const stack: Array<[unknown, number]> = [[root, 1]];
  let selects = 0;
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (Array.isArray(value)) {
      for (const item of value) stack.push([item, depth]);
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    const node = value as Node;
    f.cst_node_count++;
    if (depth > f.cst_depth) f.cst_depth = depth;
    switch (node.type) {
      case "select_stmt":
        selects++;
        break;
      case "common_table_expr":
        f.cst_cte_count++;
        break;
      case "join_expr":
        f.cst_join_count++;
        collectTableNames(node, tables);
        break;
      case "over_arg":
        f.cst_window_count++;
        break;
      case "select_distinct":
      case "select_distinct_on":
        f.cst_distinct_count++;
        break;
      case "order_by_clause":
        f.cst_order_by_count++;
        break;
      case "limit_clause":
      case "fetch_clause":
        f.cst_limit_count++;
        break;
      case "having_clause":
        f.cst_having_count++;
        break;
      case "group_by_clause":
        f.cst_group_by_count++;
        break;
      case "compound_select_stmt":
        f.cst_set_op_count++;
        break;
      case "func_call":
        f.cst_func_count++;
        break;
      case "case_expr":
        f.cst_case_count++;
        break;
      case "from_clause":
        collectTableNames(node, tables);
        break;
    }
    for (const key in node) {
      if (key !== "type") stack.push([node[key], depth + 1]);
    }
  }
  f.cst_subquery_count = Math.max(0, selects - 1 - f.cst_cte_count);
  f.cst_table_count = new Set(tables).size;
}

/** Direct table references of a FROM clause or join side: identifiers and member chains. */
function collectTableNames(node: Node, out: string[]): void {
  const sides = node.type === "from_clause" ? [node.expr] : [node.left, node.right];
  for (const side of sides) {
    const name = tableName(side);
    if (name) out.push(name);
  }
}

function tableName(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const node = value as Node;
  if (node.type === "alias") return tableName(node.expr);
  if (node.type === "identifier") return String(node.name ?? node.text).toLowerCase();
  if (node.type === "member_expr") {
    const object = tableName(node.object);
    const property = tableName(node.property);
    return object && property ? `${object}.${property}` : undefined;
  }
  return undefined;
}
