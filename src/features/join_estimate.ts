/**
 * Join cardinality that knows keys. Each SELECT block's FROM list is read from the tokens (no
 * parse): its inputs (tables, CTE reads, derived tables) with their aliases, and the column
 * equalities of its ON and WHERE conditions, resolved to the columns' distinct counts in the
 * bundle's table catalog (the cluster's own statistics). A join is a **key join** when one side
 * is (nearly) unique — the output keeps the larger input — and a **fan-out join** when neither
 * is: the output is about |A|·|B| / max NDV, the textbook estimate. Joins with no usable
 * equality (CROSS JOIN, a comma without a WHERE equality, an ON of expressions only) multiply.
 * Literal filters of a known column narrow its input first (textbook selectivities: `c = v`
 * keeps 1/NDV of the rows, `c IN (k values)` k/NDV, a range a third) and the column's NDV with
 * it. GROUP BY reduces a block to the product of its keys' NDVs where they are known, a global
 * aggregate to one row; CTE and derived-table outputs carry their estimate and, for plain
 * column outputs, their NDVs into the blocks that read them. Everything else is unknown and
 * treated as a key join (keep the larger input), never as a multiplication.
 *
 * A random shape whose cost on `tiny` comes from fan-out (non-key joins, CTE self-joins on a
 * non-unique column) then differs from an analyst's many-key-join report, which the row counts
 * alone cannot tell apart.
 *
 * @module
 */

import type { Token } from "../sql/lexer.ts";
import type { QueryContext } from "./context_features.ts";
import type { TableSize } from "./table_catalog.ts";
import {
  cteDefinitions,
  FROM_TAKING_FUNCTIONS,
  identifier,
  NON_TABLE_FROM_PREFIXES,
  qualifiedTableName,
  tableNameAt,
} from "./table_references.ts";

/** What the joins of a query look like, given its tables' keys. */
export interface JoinEstimate {
  /** Equality joins where one side's column is (nearly) unique in its input. */
  readonly keyJoins: number;
  /** Equality joins where neither side's column is unique: they multiply rows. */
  readonly fanoutJoins: number;
  /**
   * ON conditions without a plain `column = column` conjunct (expressions, inequalities, OR):
   * they cannot follow a key and behave like partial cross joins.
   */
  readonly expressionJoins: number;
  /** log10 of the largest estimated intermediate result of any SELECT block (0: none). */
  readonly intermediateLog: number;
}

/** A column is a key when its distinct count is at least this share of its input's rows. */
export const KEY_NDV_FRACTION = 0.9;

/** SELECT blocks estimated per query (the rest are ignored: hostile input only costs time). */
export const MAX_BLOCKS = 1_000;

/** Inputs read per FROM list. */
export const MAX_BLOCK_INPUTS = 100;

const KEY_LOG_MARGIN = Math.log10(KEY_NDV_FRACTION);
/** A non-key join fans out when it grows its larger input by more than this (log10: ×1.25). */
const FANOUT_MARGIN_LOG = Math.log10(1.25);
const log10Rows = (rows: number) => Math.log10(1 + Math.max(0, rows));

/** What is known of one column: its distinct count (log10) if known, and whether it is a key. */
interface ColumnInfo {
  readonly ndvLog?: number;
  readonly key: boolean;
}

const UNKNOWN_COLUMN: ColumnInfo = { key: false };

/** A block's output, as a later block reads it (CTE or derived table). */
interface BlockOutput {
  readonly rowsLog: number;
  /** Known output columns by name; `undefined`: the names are not known. */
  readonly columns?: ReadonlyMap<string, ColumnInfo>;
}

/** One input of a FROM list. */
interface Input {
  readonly name: string;
  readonly rowsLog: number;
  readonly columns?: ReadonlyMap<string, ColumnInfo>;
  /** `left`, `right`, `full` for outer joins. */
  readonly outer?: string;
}

/** A resolved equality between two inputs' columns. */
interface Equality {
  readonly left: number;
  readonly right: number;
  readonly leftColumn: string;
  readonly rightColumn: string;
  readonly leftInfo: ColumnInfo;
  readonly rightInfo: ColumnInfo;
}

/** Words that end an ON condition at its own parenthesis depth. */
const CONDITION_END = new Set([
  "JOIN",
  "LEFT",
  "RIGHT",
  "FULL",
  "INNER",
  "CROSS",
  "NATURAL",
  "WHERE",
  "GROUP",
  "ORDER",
  "HAVING",
  "LIMIT",
  "UNION",
  "EXCEPT",
  "INTERSECT",
  "WINDOW",
  "ON",
  "FETCH",
  "OFFSET",
]);

/** Words that end a WHERE or GROUP BY clause. */
const CLAUSE_END = new Set([
  "GROUP",
  "HAVING",
  "ORDER",
  "LIMIT",
  "UNION",
  "EXCEPT",
  "INTERSECT",
  "WINDOW",
  "FETCH",
  "OFFSET",
  "SELECT",
]);

/** Words that follow an input without being its alias. */
const NOT_ALIAS = new Set([...CONDITION_END, "USING", "TABLESAMPLE", "FOR", "MATCH_RECOGNIZE"]);

const AGGREGATES = new Set([
  "COUNT",
  "SUM",
  "AVG",
  "MIN",
  "MAX",
  "APPROX_DISTINCT",
  "ARRAY_AGG",
  "STDDEV",
  "VARIANCE",
  "BOOL_AND",
  "BOOL_OR",
  "COUNT_IF",
  "MAX_BY",
  "MIN_BY",
  "ARBITRARY",
  "ANY_VALUE",
  "APPROX_PERCENTILE",
  "LISTAGG",
]);

/** Comparison operators of a range filter. */
const RANGE_OPERATORS = new Set(["<", ">", "<=", ">="]);

/** Typed literals (`DATE '1995-01-01'`). */
const LITERAL_TYPES = new Set(["DATE", "TIMESTAMP", "TIME", "DECIMAL", "REAL", "DOUBLE"]);

/** A range filter keeps a third of the rows (the textbook default; statistics hold no bounds). */
const RANGE_LOG = Math.log10(1 / 3);

/** Aggregates whose value is one of the column's values (so no more distinct values). */
const VALUE_PICKING = new Set(["MIN", "MAX", "ARBITRARY", "ANY_VALUE"]);

/** Parenthesis structure: depth of every token and the matching partner of every parenthesis. */
interface Nesting {
  readonly depth: number[];
  /** For `(` its `)` (or the token count when unclosed), for `)` its `(`; else -1. */
  readonly partner: number[];
  /** The innermost `(` enclosing each token, or -1. */
  readonly parent: number[];
}

function nesting(tokens: readonly Token[]): Nesting {
  const n = tokens.length;
  // Plain arrays: most queries are a few hundred tokens, where typed arrays cost more to make.
  const depth: number[] = [];
  const partner: number[] = [];
  const parent: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < n; i++) {
    const text = tokens[i].text;
    partner.push(-1);
    if (text === ")" && open.length > 0) {
      const o = open.pop()!;
      partner[o] = i;
      partner[i] = o;
    }
    depth.push(open.length);
    parent.push(open.length > 0 ? open[open.length - 1] : -1);
    if (text === "(") {
      open.push(i);
      partner[i] = n;
    }
  }
  return { depth, partner, parent };
}

/**
 * Estimates the query's joins from its tokens, the session (for unqualified names) and the
 * table catalog's look-up. Pure; never throws; linear in the tokens up to the caps above.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "../sql/lexer.ts";
 * import { estimateJoins } from "./join_estimate.ts";
 * const stats = new Map([
 *   ["tpch.tiny.orders", { rows: 15000, bytes: 0, columns: new Map([["orderkey", 15000], ["custkey", 1000]]) }],
 *   ["tpch.tiny.customer", { rows: 1500, bytes: 0, columns: new Map([["custkey", 1500], ["nationkey", 25]]) }],
 * ]);
 * const joins = (sql: string) =>
 *   estimateJoins(lex(sql).tokens, { catalog: "tpch", schema: "tiny" }, (t) => stats.get(t));
 * const key = joins("SELECT * FROM orders o JOIN customer c ON o.custkey = c.custkey");
 * assert.equal(key.keyJoins, 1);
 * assert.ok(Math.abs(key.intermediateLog - Math.log10(15001)) < 0.01); // keeps the larger input
 * const fanout = joins("SELECT * FROM customer a JOIN customer b ON a.nationkey = b.nationkey");
 * assert.equal(fanout.fanoutJoins, 1);
 * assert.ok(fanout.intermediateLog > 4.9); // 1500 · 1500 / 25 = 90,000 rows
 * ```
 */
export function estimateJoins(
  tokens: readonly Token[],
  context: Pick<QueryContext, "catalog" | "schema">,
  sizeOf: (table: string) => TableSize | undefined,
): JoinEstimate {
  const n = tokens.length;
  const { depth, partner, parent } = nesting(tokens);
  const catalog = context.catalog?.toLowerCase() ?? "";
  const schema = context.schema?.toLowerCase() ?? "";
  const { names: cteNames, bodies } = cteDefinitions(tokens);
  const cteBodyOpen = new Map<string, number>();
  for (const body of bodies) if (!cteBodyOpen.has(body.name)) cteBodyOpen.set(body.name, body.open);

  // Every FROM that reads tables, with the parenthesis that encloses its block.
  const froms: number[] = [];
  for (let i = 0; i < n && froms.length < MAX_BLOCKS; i++) {
    const t = tokens[i];
    if (t.kind !== "word" || t.text !== "FROM") continue;
    if (NON_TABLE_FROM_PREFIXES.has(tokens[i - 1]?.text ?? "")) continue;
    const p = parent[i];
    if (p > 0 && FROM_TAKING_FUNCTIONS.has(tokens[p - 1].text)) continue;
    froms.push(i);
  }
  // A parenthesis's first block is what reading it (CTE body, derived table) returns.
  const firstBlockIn = new Map<number, number>();
  for (const f of froms) if (!firstBlockIn.has(parent[f])) firstBlockIn.set(parent[f], f);
  // Inner blocks first, then in text order: what a block reads is estimated before it.
  const order = [...froms].sort((a, b) => depth[b] - depth[a] || a - b);
  const outputs = new Map<number, BlockOutput>();
  const outputOf = (open: number): BlockOutput | undefined => {
    const f = firstBlockIn.get(open);
    return f === undefined ? undefined : outputs.get(f);
  };

  let keyJoins = 0;
  let fanoutJoins = 0;
  let expressionJoins = 0;
  let intermediateLog = 0;

  /** Index after the token at `i` at its own depth (a parenthesis group is one step). */
  const step = (i: number) => tokens[i].text === "(" ? partner[i] + 1 : i + 1;

  /** End of a condition starting at `from` at depth `d`: the first token ending it. */
  const conditionEnd = (from: number, d: number, ends: ReadonlySet<string>) => {
    let j = from;
    while (j < n && depth[j] >= d) {
      const t = tokens[j];
      if (depth[j] === d) {
        if (t.text === ")" || t.text === "," || t.text === ";") break;
        if (t.kind === "word" && ends.has(t.text)) break;
      }
      j = step(j);
    }
    return Math.min(j, n);
  };

  /** A column reference exactly spanning [s, e): its parts, else undefined. */
  const columnRef = (s: number, e: number): string[] | undefined => {
    const parts: string[] = [];
    let j = s;
    while (j < e) {
      const part = identifier(tokens[j]);
      if (part === undefined) return undefined;
      parts.push(part);
      j++;
      if (j === e) break;
      if (tokens[j].text !== ".") return undefined;
      j++;
    }
    return parts.length > 0 && j === e ? parts : undefined;
  };

  /** Top-level conjuncts of [s, e) at depth d; none when an OR sits at the top level. */
  const conjuncts = (s: number, e: number, d: number): [number, number][] => {
    const out: [number, number][] = [];
    let start = s;
    let between = false;
    for (let j = s; j < e; j = step(j)) {
      if (depth[j] !== d || tokens[j].kind !== "word") continue;
      if (tokens[j].text === "OR") return [];
      if (tokens[j].text === "BETWEEN") between = true;
      else if (tokens[j].text === "AND" && between) between = false;
      else if (tokens[j].text === "AND") {
        out.push([start, j]);
        start = j + 1;
      }
    }
    out.push([start, e]);
    return out;
  };

  /** `a.x = b.y` spanning [s, e) exactly: both sides' parts. */
  const plainEquality = (s: number, e: number, d: number) => {
    for (let j = s; j < e; j = step(j)) {
      if (depth[j] === d && tokens[j].text === "=") {
        const left = columnRef(s, j);
        const right = left && columnRef(j + 1, e);
        return left && right ? { left, right } : undefined;
      }
    }
    return undefined;
  };

  /** Whether [s, e) is one literal: a number, a string, `DATE '…'`, a negative number. */
  const literal = (s: number, e: number) => {
    const t = tokens[s];
    if (e === s + 1) return t.kind === "number" || t.kind === "string";
    return e === s + 2 &&
      ((t.text === "-" && tokens[s + 1].kind === "number") ||
        (LITERAL_TYPES.has(t.text) && tokens[s + 1].kind === "string"));
  };

  /**
   * A filter of one column by literals spanning [s, e): `c = v` (one value), `c IN (v, …)`
   * (k values), or a range (`<`, `>`, `<=`, `>=`, `BETWEEN`); otherwise undefined.
   */
  const literalFilter = (s: number, e: number, d: number) => {
    for (let j = s; j < e; j = step(j)) {
      if (depth[j] !== d) continue;
      const op = tokens[j].text;
      if (op === "=" || RANGE_OPERATORS.has(op) || op === "BETWEEN" || op === "IN") {
        const column = columnRef(s, j);
        if (!column) return undefined;
        if (op === "=") return literal(j + 1, e) ? { column, values: 1 } : undefined;
        if (RANGE_OPERATORS.has(op)) return literal(j + 1, e) ? { column, values: -1 } : undefined;
        if (op === "BETWEEN") return { column, values: -1 };
        if (tokens[j + 1]?.text !== "(" || partner[j + 1] !== e - 1) return undefined;
        let values = 0;
        for (const [vs, ve] of commaSplit(j + 2, e - 1, d + 1)) {
          if (!literal(vs, ve)) return undefined;
          values++;
        }
        return values > 0 ? { column, values } : undefined;
      }
    }
    return undefined;
  };

  for (const f of order) {
    const d = depth[f];
    const inputs: Input[] = [];
    const byName = new Map<string, number>();
    const equalities: Equality[] = [];
    /** log10 of the share of each input's rows its literal filters keep (≤ 0). */
    const kept: number[] = [];
    /** Distinct values (log10) of filtered columns, by `input.column`. */
    const narrowed = new Map<string, number>();
    /** What is known of a resolved column, its literal filters applied. */
    const filtered = (k: number, column: string, info: ColumnInfo): ColumnInfo => {
      const ndvLog = narrowed.get(`${k}.${column}`);
      return ndvLog === undefined ? info : { ndvLog, key: info.key };
    };

    /** Resolves a column among inputs `[0, upto)`: its input and what is known of it. */
    const resolve = (parts: readonly string[], upto: number) => {
      const column = parts[parts.length - 1];
      if (parts.length >= 2) {
        const k = byName.get(parts[parts.length - 2]);
        if (k === undefined || k >= upto) return undefined;
        return { k, info: inputs[k].columns?.get(column) ?? UNKNOWN_COLUMN };
      }
      let found: { k: number; info: ColumnInfo } | undefined;
      for (let k = 0; k < upto; k++) {
        const columns = inputs[k].columns;
        // An input whose columns are unknown might hold it: ambiguous, unresolved.
        if (columns === undefined) return undefined;
        const info = columns.get(column);
        if (info === undefined) continue;
        if (found) return undefined;
        found = { k, info };
      }
      return found;
    };

    const addEqualities = (s: number, e: number, upto: number): boolean => {
      let plain = false;
      for (const [cs, ce] of conjuncts(s, e, d)) {
        const eq = plainEquality(cs, ce, d);
        if (!eq) {
          narrow(cs, ce, upto);
          continue;
        }
        plain = true;
        const a = resolve(eq.left, upto);
        const b = resolve(eq.right, upto);
        if (!a || !b || a.k === b.k) continue;
        const [l, r] = a.k < b.k
          ? [{ ...a, column: eq.left.at(-1)! }, { ...b, column: eq.right.at(-1)! }]
          : [{ ...b, column: eq.right.at(-1)! }, { ...a, column: eq.left.at(-1)! }];
        equalities.push({
          left: l.k,
          right: r.k,
          leftColumn: l.column,
          rightColumn: r.column,
          leftInfo: l.info,
          rightInfo: r.info,
        });
      }
      return plain;
    };

    /** Applies a literal filter in [s, e) to its column's input (textbook selectivities). */
    const narrow = (s: number, e: number, upto: number) => {
      const filter = literalFilter(s, e, d);
      const found = filter && resolve(filter.column, upto);
      const ndvLog = found?.info.ndvLog;
      if (!found || ndvLog === undefined) return;
      const key = `${found.k}.${filter.column[filter.column.length - 1]}`;
      const before = narrowed.get(key) ?? ndvLog;
      // One value keeps 1/NDV of the rows, k values k/NDV, a range a third (no value bounds).
      const after = filter.values > 0
        ? Math.min(before, Math.log10(filter.values))
        : before + RANGE_LOG;
      kept[found.k] = (kept[found.k] ?? 0) + Math.min(0, after - before);
      narrowed.set(key, after);
    };

    // The FROM list: input, [alias], [ON … | USING (…)], then `,` or a join, repeatedly.
    let i = f + 1;
    let outer: string | undefined;
    while (i < n && inputs.length < MAX_BLOCK_INPUTS) {
      if (tokens[i].text === "LATERAL") i++;
      let rowsLog = 0;
      let columns: ReadonlyMap<string, ColumnInfo> | undefined;
      let name = "";
      if (tokens[i]?.text === "(") {
        const out = outputOf(i);
        rowsLog = out?.rowsLog ?? 0;
        columns = out?.columns;
        i = partner[i] + 1;
      } else {
        const { parts, next } = tableNameAt(tokens, i);
        if (parts.length === 0) break;
        name = parts[parts.length - 1];
        i = next;
        if (tokens[i]?.text === "(") {
          // UNNEST(…), TABLE(…): a function, not a table.
          i = partner[i] + 1;
        } else if (parts.length === 1 && cteNames.has(parts[0])) {
          const open = cteBodyOpen.get(parts[0]);
          const out = open === undefined ? undefined : outputOf(open);
          rowsLog = out?.rowsLog ?? 0;
          columns = out?.columns;
        } else {
          const size = sizeOf(qualifiedTableName(parts, catalog, schema));
          if (size) {
            rowsLog = log10Rows(size.rows);
            if (size.columns) columns = tableColumns(size, rowsLog);
          }
        }
      }
      if (tokens[i]?.text === "AS") i++;
      const alias = identifier(tokens[i]);
      if (alias !== undefined && !(tokens[i].kind === "word" && NOT_ALIAS.has(tokens[i].text))) {
        name = alias;
        i++;
        if (tokens[i]?.text === "(") {
          // Renamed columns: the names known above no longer apply.
          columns = undefined;
          i = partner[i] + 1;
        }
      }
      const k = inputs.length;
      byName.set(name, k);
      inputs.push({ name, rowsLog, columns, outer });
      if (tokens[i]?.text === "ON") {
        const end = conditionEnd(i + 1, d, CONDITION_END);
        if (!addEqualities(i + 1, end, k + 1)) expressionJoins++;
        i = end;
      } else {
        if (tokens[i]?.text === "USING" && tokens[i + 1]?.text === "(") {
          const close = partner[i + 1];
          for (let j = i + 2; j < close; j++) {
            const column = identifier(tokens[j]);
            if (column === undefined) continue;
            const right = columns?.get(column) ?? UNKNOWN_COLUMN;
            const left = resolve([column], k);
            if (left) {
              equalities.push({
                left: left.k,
                right: k,
                leftColumn: column,
                rightColumn: column,
                leftInfo: left.info,
                rightInfo: right,
              });
            }
          }
          i = close + 1;
        }
      }
      outer = undefined;
      if (tokens[i]?.text === ",") {
        i++;
        continue;
      }
      let j = i;
      if (tokens[j]?.text === "NATURAL") j++;
      const kind = tokens[j]?.text;
      if (kind === "LEFT" || kind === "RIGHT" || kind === "FULL") {
        outer = kind.toLowerCase();
        j++;
        if (tokens[j]?.text === "OUTER") j++;
      } else if (kind === "INNER" || kind === "CROSS") j++;
      if (tokens[j]?.text !== "JOIN") break;
      i = j + 1;
    }

    // The clauses after the FROM list, at the block's depth.
    let groupBy: [number, number] | undefined;
    let limitLog: number | undefined;
    while (i < n && depth[i] >= d) {
      const t = tokens[i];
      if (depth[i] === d) {
        if (t.text === ")" || t.text === ";") break;
        if (
          t.kind === "word" &&
          (t.text === "UNION" || t.text === "EXCEPT" || t.text === "INTERSECT" ||
            t.text === "SELECT")
        ) break;
        if (t.kind === "word" && t.text === "WHERE") {
          const end = conditionEnd(i + 1, d, CLAUSE_END);
          addEqualities(i + 1, end, inputs.length);
          i = end;
          continue;
        }
        if (t.kind === "word" && t.text === "GROUP" && tokens[i + 1]?.text === "BY") {
          groupBy = [i + 2, groupByEnd(i + 2, d)];
          i = groupBy[1];
          continue;
        }
        if (t.kind === "word" && t.text === "LIMIT" && tokens[i + 1]?.kind === "number") {
          limitLog = log10Rows(Number(tokens[i + 1].text));
        }
      }
      i = step(i);
    }

    // Joins in the order written; each input meets the equalities linking it to earlier ones.
    const rowsOf = (k: number) => Math.max(0, inputs[k].rowsLog + (kept[k] ?? 0));
    let rowsLog = inputs.length > 0 ? rowsOf(0) : 0;
    let peak = rowsLog;
    for (let k = 1; k < inputs.length; k++) {
      const input = inputs[k];
      const s = rowsOf(k);
      // Independent equalities: their selectivities multiply (a composite key joins 1:1).
      let divisor = 0;
      let known = false;
      let key = false;
      let linked = false;
      for (const eq of equalities) {
        if (eq.right !== k) continue;
        linked = true;
        const leftInfo = filtered(eq.left, eq.leftColumn, eq.leftInfo);
        const rightInfo = filtered(eq.right, eq.rightColumn, eq.rightInfo);
        if (leftInfo.ndvLog === undefined || rightInfo.ndvLog === undefined) continue;
        known = true;
        divisor += Math.max(Math.min(leftInfo.ndvLog, rowsLog), Math.min(rightInfo.ndvLog, s));
        key ||= leftInfo.key || rightInfo.key;
      }
      let next: number;
      if (known) {
        next = Math.max(rowsLog + s - divisor, Math.min(rowsLog, s));
        // A join that grows past its larger input fans out; one that does not behaves as a key.
        if (!key && next > Math.max(rowsLog, s) + FANOUT_MARGIN_LOG) fanoutJoins++;
        else keyJoins++;
      } else if (linked) next = Math.max(rowsLog, s); // unknown columns: keep the larger
      else next = rowsLog + s; // no usable equality: a cross join
      if (input.outer === "left") next = Math.max(next, rowsLog);
      else if (input.outer === "right") next = Math.max(next, s);
      else if (input.outer === "full") next = Math.max(next, rowsLog, s);
      rowsLog = Math.max(0, next);
      peak = Math.max(peak, rowsLog, s);
    }
    intermediateLog = Math.max(intermediateLog, peak);

    // What a reader of this block sees: rows after GROUP BY / aggregation / LIMIT, and columns.
    const items = selectItems(f, d);
    let outRows = rowsLog;
    let singleKey: string | undefined;
    if (groupBy) {
      let sum = 0;
      let known = true;
      const keys = commaSplit(groupBy[0], groupBy[1], d);
      for (const [s, e] of keys) {
        let span: [number, number] | undefined = [s, e];
        if (e === s + 1 && tokens[s].kind === "number") span = items[Number(tokens[s].text) - 1];
        const parts = span && columnRef(span[0], span[1]);
        const found = parts && resolve(parts, inputs.length);
        const info = found ? filtered(found.k, parts!.at(-1)!, found.info) : undefined;
        if (info?.ndvLog === undefined) {
          known = false;
          break;
        }
        sum += info.ndvLog;
        if (keys.length === 1) singleKey = parts!.join(".");
      }
      if (known) outRows = Math.min(rowsLog, sum);
    } else if (items.some(([s, e]) => isAggregate(s, e, d))) outRows = 0;
    if (limitLog !== undefined) outRows = Math.min(outRows, limitLog);

    const columns = new Map<string, ColumnInfo>();
    for (const [s, e] of items) {
      let end = e;
      let alias: string | undefined;
      if (e - s >= 2 && tokens[e - 2].text === "AS") {
        alias = identifier(tokens[e - 1]);
        end = e - 2;
      } else if (
        e - s >= 2 && identifier(tokens[e - 1]) !== undefined && tokens[e - 2].text !== "." &&
        tokens[e - 1].text !== "END" &&
        (tokens[e - 2].text === ")" || identifier(tokens[e - 2]) !== undefined)
      ) {
        alias = identifier(tokens[e - 1]);
        end = e - 1;
      }
      const parts = columnRef(s, end);
      // min/max/arbitrary of a column take no more values than the column has.
      const picked = !parts && end - s >= 4 && VALUE_PICKING.has(tokens[s].text) &&
          tokens[s + 1].text === "(" && partner[s + 1] === end - 1
        ? columnRef(s + 2, end - 1)
        : undefined;
      if (parts || picked) {
        const ref = (parts ?? picked)!;
        const found = resolve(ref, inputs.length);
        const info = found ? filtered(found.k, ref.at(-1)!, found.info) : UNKNOWN_COLUMN;
        const ndvLog = info.ndvLog === undefined ? undefined : Math.min(info.ndvLog, outRows);
        const key = (parts !== undefined && singleKey === parts.join(".")) ||
          (ndvLog !== undefined && ndvLog >= outRows + KEY_LOG_MARGIN);
        const name = alias ?? parts?.[parts.length - 1];
        if (name !== undefined) columns.set(name, { ndvLog, key });
      } else if (alias !== undefined) columns.set(alias, UNKNOWN_COLUMN);
      else if (e === s + 1 && tokens[s].text === "*") {
        for (const input of inputs) {
          for (const [c, info] of input.columns ?? []) {
            const ndvLog = info.ndvLog === undefined ? undefined : Math.min(info.ndvLog, outRows);
            columns.set(c, { ndvLog, key: info.key && inputs.length === 1 });
          }
        }
      }
    }
    outputs.set(f, { rowsLog: outRows, columns });
  }
  return { keyJoins, fanoutJoins, expressionJoins, intermediateLog };

  /** End of a GROUP BY list at depth d. */
  function groupByEnd(from: number, d: number): number {
    let j = from;
    while (j < n && depth[j] >= d) {
      const t = tokens[j];
      if (depth[j] === d) {
        if (t.text === ")" || t.text === ";") break;
        if (t.kind === "word" && CLAUSE_END.has(t.text)) break;
      }
      j = step(j);
    }
    return Math.min(j, n);
  }

  /** Spans of the comma-separated items of [s, e) at depth d. */
  function commaSplit(s: number, e: number, d: number): [number, number][] {
    const out: [number, number][] = [];
    let start = s;
    for (let j = s; j < e; j = step(j)) {
      if (depth[j] === d && tokens[j].text === ",") {
        out.push([start, j]);
        start = j + 1;
      }
    }
    if (start < e) out.push([start, e]);
    return out;
  }

  /** The select list of the block whose FROM is at `f` (walked back to its SELECT). */
  function selectItems(f: number, d: number): [number, number][] {
    let j = f - 1;
    while (j >= 0 && depth[j] >= d) {
      if (depth[j] === d && tokens[j].text === "SELECT") break;
      j = tokens[j].text === ")" && partner[j] >= 0 ? partner[j] - 1 : j - 1;
    }
    if (j < 0 || tokens[j]?.text !== "SELECT" || depth[j] !== d) return [];
    let s = j + 1;
    if (tokens[s]?.text === "DISTINCT" || tokens[s]?.text === "ALL") s++;
    return commaSplit(s, f, d);
  }

  /** Whether [s, e) calls an aggregate at its top level without a window. */
  function isAggregate(s: number, e: number, d: number): boolean {
    let aggregate = false;
    for (let j = s; j < e; j = step(j)) {
      if (depth[j] !== d || tokens[j].kind !== "word") continue;
      if (tokens[j].text === "OVER") return false;
      if (AGGREGATES.has(tokens[j].text) && tokens[j + 1]?.text === "(") aggregate = true;
    }
    return aggregate;
  }
}

/** Column maps per catalog entry: a catalog's entries are built once per model. */
const columnsOfTable = new WeakMap<TableSize, Map<string, ColumnInfo>>();

/** The columns of a catalog table: distinct counts (log10) and whether each is a key. */
function tableColumns(size: TableSize, rowsLog: number): Map<string, ColumnInfo> {
  const cached = columnsOfTable.get(size);
  if (cached) return cached;
  const out = new Map<string, ColumnInfo>();
  columnsOfTable.set(size, out);
  for (const [column, ndv] of size.columns ?? []) {
    const ndvLog = log10Rows(ndv);
    out.set(column, { ndvLog, key: ndvLog >= rowsLog + KEY_LOG_MARGIN });
  }
  return out;
}
