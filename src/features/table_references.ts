/**
 * Which tables a query reads, resolved the way Trino resolves them: a fully qualified
 * `catalog.schema.table` names itself, and the session catalog/schema only fill in the parts
 * the SQL leaves out. The session can therefore never make `tpch.sf1.lineitem` look small.
 * Names of the query's own CTEs are not tables and are counted apart (CTE reuse).
 *
 * @module
 */

import type { Token } from "../sql/lexer.ts";
import type { QueryContext } from "./context_features.ts";

/** The tables of one query, as read from its tokens. */
export interface TableReferences {
  /** Resolved `catalog.schema.table` of every reference, in order, repeats kept. */
  readonly references: readonly string[];
  /**
   * How many times Trino scans each reference, in `references` order: Trino inlines a CTE at
   * every read, so a table inside a CTE read three times is scanned three times (and a CTE read
   * by such a CTE multiplies again). 1 outside CTEs; at most {@linkcode MAX_SCANS_PER_REFERENCE}.
   */
  readonly scans: readonly number[];
  /** Distinct resolved tables, sorted. */
  readonly tables: readonly string[];
  /** How many times the query reads one of its own CTEs beyond the first read of each. */
  readonly cteExtraReads: number;
}

const TABLE_INTRODUCERS = new Set(["FROM", "JOIN", "INTO", "TABLE", "UPDATE", "USING"]);

/** Words that follow a table introducer without being a table (`FROM UNNEST`, `JOIN LATERAL`). */
const RESERVED_AFTER_INTRODUCER = new Set([
  "unnest",
  "lateral",
  "select",
  "values",
  "table",
]);

/** Table references read at most (the rest of a longer list is ignored). */
export const MAX_REFERENCES = 1_000;

/** Functions whose argument syntax contains FROM (`EXTRACT(YEAR FROM d)`): not a table's FROM. */
export const FROM_TAKING_FUNCTIONS: ReadonlySet<string> = new Set([
  "EXTRACT",
  "SUBSTRING",
  "TRIM",
  "OVERLAY",
]);

/** Words before a FROM that lists or compares instead of reading tables (`IS DISTINCT FROM`). */
export const NON_TABLE_FROM_PREFIXES: ReadonlySet<string> = new Set([
  "DISTINCT",
  "TABLES",
  "SCHEMAS",
  "FUNCTIONS",
]);

/** An identifier token's name, lower-case and unquoted; `undefined` for any other token. */
export function identifier(t: Token | undefined): string | undefined {
  if (t?.kind === "word") return t.text.toLowerCase();
  if (t?.kind === "quoted_ident") return t.text.slice(1, -1).replaceAll('""', '"').toLowerCase();
  return undefined;
}

/** Largest scan multiplicity of one reference (nested CTE reuse multiplies quickly). */
export const MAX_SCANS_PER_REFERENCE = 1_024;

/** CTE bodies whose reads are followed (a longer list counts its bodies' tables once). */
const MAX_TRACKED_CTES = 256;

/** A CTE's body: the token indices of its opening and closing parenthesis. */
export interface CteBody {
  readonly name: string;
  readonly open: number;
  readonly close: number;
}

/**
 * Names defined by `WITH name [(columns)] AS (` or `, name [(columns)] AS (`: the query's CTEs,
 * with the span of each body. A select-list alias is never followed by `AS (`, so the pattern
 * does not catch columns.
 */
export function cteDefinitions(
  tokens: readonly Token[],
): { names: Set<string>; bodies: CteBody[] } {
  const names = new Set<string>();
  const bodies: CteBody[] = [];
  for (let i = 1; i < tokens.length; i++) {
    const prev = tokens[i - 1].text;
    if (prev !== "WITH" && prev !== "," && prev !== "RECURSIVE") continue;
    const name = identifier(tokens[i]);
    if (name === undefined) continue;
    let j = i + 1;
    if (tokens[j]?.text === "(") {
      // Column list: skip to its closing parenthesis, and resume after it (a column list holds
      // no CTE definition), so every token is walked once: hostile input stays linear.
      let depth = 0;
      for (; j < tokens.length; j++) {
        if (tokens[j].text === "(") depth++;
        else if (tokens[j].text === ")" && --depth === 0) break;
      }
      if (j >= tokens.length) break;
      i = j;
      j++;
    }
    if (tokens[j]?.text === "AS" && tokens[j + 1]?.text === "(") {
      names.add(name);
      if (bodies.length < MAX_TRACKED_CTES) {
        bodies.push({ name, open: j + 1, close: matchingParen(tokens, j + 1) });
      }
    }
  }
  return { names, bodies };
}

/** Index of the `)` closing the `(` at `open` (the last token when it is never closed). */
function matchingParen(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    if (tokens[k].text === "(") depth++;
    else if (tokens[k].text === ")" && --depth === 0) return k;
  }
  return tokens.length - 1;
}

/**
 * Scan multiplicity of every CTE body: the sum, over the reads of the CTE, of the multiplicity
 * of where each read sits (the main query counts 1). A CTE read inside itself (recursive) or in
 * a cycle counts once per read. `reads` are token indices of each CTE's reads.
 */
function cteMultiplicities(
  bodies: readonly CteBody[],
  reads: ReadonlyMap<string, readonly number[]>,
): Map<string, number> {
  const memo = new Map<string, number>();
  const visiting = new Set<string>();
  const of = (name: string): number => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (visiting.has(name)) return 1;
    visiting.add(name);
    let total = 0;
    for (const at of reads.get(name) ?? []) {
      const inside = enclosingCte(bodies, at);
      total += inside === undefined || inside === name ? 1 : of(inside);
      if (total >= MAX_SCANS_PER_REFERENCE) break;
    }
    visiting.delete(name);
    const value = Math.min(MAX_SCANS_PER_REFERENCE, Math.max(1, total));
    memo.set(name, value);
    return value;
  };
  const out = new Map<string, number>();
  for (const body of bodies) out.set(body.name, of(body.name));
  return out;
}

/** The innermost tracked CTE body holding token `at`, if any. */
function enclosingCte(bodies: readonly CteBody[], at: number): string | undefined {
  let best: CteBody | undefined;
  for (const body of bodies) {
    if (body.open < at && at < body.close && (!best || body.open > best.open)) best = body;
  }
  return best?.name;
}

/**
 * Reads the table references after FROM / JOIN / INTO / TABLE / UPDATE / USING (and each
 * comma-separated item of a FROM list). Reads tokens only, so it works on SQL the CST parser
 * refuses. Lower-case names; never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "../sql/lexer.ts";
 * import { tableReferences } from "./table_references.ts";
 * const { tokens } = lex(
 *   "WITH o AS (SELECT * FROM orders) SELECT * FROM o JOIN o p ON true, tpch.sf1.lineitem",
 * );
 * const refs = tableReferences(tokens, { catalog: "tpch", schema: "tiny" });
 * assert.deepEqual(refs.tables, ["tpch.sf1.lineitem", "tpch.tiny.orders"]);
 * assert.equal(refs.cteExtraReads, 1);
 * ```
 */
export function tableReferences(
  tokens: readonly Token[],
  context: Pick<QueryContext, "catalog" | "schema">,
): TableReferences {
  const { names: ctes, bodies } = cteDefinitions(tokens);
  const cteReads = new Map<string, number[]>();
  const references: string[] = [];
  const positions: number[] = [];
  const catalog = context.catalog?.toLowerCase() ?? "";
  const schema = context.schema?.toLowerCase() ?? "";
  // Parenthesis depth at which a FROM list is open, so `FROM a, b` reads `b` too.
  const fromListDepth: number[] = [];
  // Depths of open `EXTRACT(`/`SUBSTRING(`/`TRIM(`/`OVERLAY(`: their FROM is not a table's.
  const syntaxCallDepth: number[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const text = tokens[i].text;
    if (text === "(") {
      depth++;
      if (FROM_TAKING_FUNCTIONS.has(tokens[i - 1]?.text ?? "")) syntaxCallDepth.push(depth);
    } else if (text === ")") {
      if (syntaxCallDepth.at(-1) === depth) syntaxCallDepth.pop();
      depth--;
      while (fromListDepth.length > 0 && fromListDepth.at(-1)! > depth) fromListDepth.pop();
    }
    const kind = tokens[i].kind;
    const prev = tokens[i - 1]?.text;
    if (
      kind === "word" && text === "FROM" &&
      (syntaxCallDepth.at(-1) === depth || NON_TABLE_FROM_PREFIXES.has(prev ?? ""))
    ) {
      continue;
    }
    let introduces = kind === "word" && TABLE_INTRODUCERS.has(text);
    if (kind === "word" && text === "FROM") fromListDepth.push(depth);
    else if (
      kind === "word" && fromListDepth.at(-1) === depth &&
      (text === "WHERE" || text === "GROUP" || text === "ORDER" || text === "HAVING" ||
        text === "LIMIT" || text === "UNION" || text === "EXCEPT" || text === "INTERSECT" ||
        text === "WINDOW" || text === "SELECT")
    ) {
      fromListDepth.pop();
    } else if (text === "," && fromListDepth.at(-1) === depth) introduces = true;
    if (!introduces) continue;
    const parts = tableNameAt(tokens, i + 1).parts;
    if (parts.length === 0 || (parts.length === 1 && RESERVED_AFTER_INTRODUCER.has(parts[0]))) {
      continue;
    }
    if (parts.length === 1 && ctes.has(parts[0])) {
      const reads = cteReads.get(parts[0]);
      if (reads === undefined) cteReads.set(parts[0], [i]);
      else if (reads.length < MAX_REFERENCES) reads.push(i);
      continue;
    }
    references.push(qualifiedTableName(parts, catalog, schema));
    positions.push(i);
    // No real query reads a thousand tables; past that, hostile input only costs time.
    if (references.length >= MAX_REFERENCES) break;
  }
  let cteExtraReads = 0;
  for (const reads of cteReads.values()) cteExtraReads += reads.length - 1;
  const multiplicity = cteMultiplicities(bodies, cteReads);
  const scans = positions.map((at) => {
    const inside = enclosingCte(bodies, at);
    return inside === undefined ? 1 : multiplicity.get(inside)!;
  });
  return { references, scans, tables: [...new Set(references)].sort(), cteExtraReads };
}

/**
 * The dotted name (at most `catalog.schema.table`) starting at token `at`: its lower-case parts
 * and the index of the first token after it (no parts: `at` is not an identifier).
 */
export function tableNameAt(
  tokens: readonly Token[],
  at: number,
): { parts: string[]; next: number } {
  const parts: string[] = [];
  let j = at;
  while (j < tokens.length && parts.length < 3) {
    const part = identifier(tokens[j]);
    if (part === undefined) break;
    parts.push(part);
    if (tokens[j + 1]?.text !== "." || parts.length === 3) {
      j++;
      break;
    }
    j += 2;
  }
  return { parts, next: parts.length === 0 ? at : j };
}

/**
 * `catalog.schema.table` of a name's parts: the SQL's own parts win, the session (lower-case)
 * fills only the ones it leaves out.
 */
export function qualifiedTableName(parts: readonly string[], catalog: string, schema: string) {
  return (parts.length >= 3 ? parts : parts.length === 2 ? [catalog, ...parts] : [
    catalog,
    schema,
    ...parts,
  ]).join(".");
}

/**
 * Distinct resolved tables a query names, sorted (see {@linkcode tableReferences}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "../sql/lexer.ts";
 * import { referencedTables } from "./table_references.ts";
 * const { tokens } = lex("SELECT * FROM orders o JOIN tpch.sf1.lineitem l ON true");
 * const tables = referencedTables(tokens, { catalog: "tpch", schema: "tiny" });
 * assert.deepEqual(tables, ["tpch.sf1.lineitem", "tpch.tiny.orders"]);
 * ```
 */
export function referencedTables(
  tokens: readonly Token[],
  context: Pick<QueryContext, "catalog" | "schema">,
): string[] {
  return [...tableReferences(tokens, context).tables];
}
