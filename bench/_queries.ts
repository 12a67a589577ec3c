/**
 * The benchmarks' request mix: the labeled log's reads of at most 4 KB (`data/query_log.jsonl.gz`,
 * the customer's measurement), each request's SQL new. `warm`: a number literal varies (or a
 * trailing comment when the query has none), so the template repeats and only the decision cache
 * misses; `cold`: a CTE named after the request makes every template new, so every request parses.
 *
 * @module
 */

import { gunzipSync } from "node:zlib";
import type { RouteInput } from "../src/routing/router.ts";
import { lex } from "../src/sql/lexer.ts";
import { statementKind } from "../src/sql/statement_kind.ts";

const LOG = new URL("../data/query_log.jsonl.gz", import.meta.url);

interface Logged {
  readonly sqlText: string;
  readonly user?: string;
  readonly source?: string;
  readonly catalog?: string;
  readonly schema?: string;
}

/** The labeled log's reads ≤ 4 KB, in log order. */
export const LOGGED_READS: readonly Logged[] = (() => {
  const text = new TextDecoder().decode(gunzipSync(Deno.readFileSync(LOG)));
  const out: Logged[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line);
    const sqlText: string = event.metadata?.query ?? "";
    if (sqlText.length === 0 || sqlText.length > 4096) continue;
    if (statementKind(lex(sqlText).tokens) !== "read") continue;
    out.push({
      sqlText,
      user: event.context?.user,
      source: event.context?.source,
      catalog: event.context?.catalog,
      schema: event.context?.schema,
    });
  }
  return out;
})();

/** Whether a request's template repeats (`warm`) or is new every time (`cold`). */
export type Mix = "warm" | "cold";

const LAST_NUMBER = /(\d+)(?!.*\d)/s;

/**
 * The n-th benchmark request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchRequest, LOGGED_READS } from "./_queries.ts";
 * assert.notEqual(benchRequest(0, "warm").sqlText, benchRequest(LOGGED_READS.length, "warm").sqlText);
 * ```
 */
export function benchRequest(n: number, mix: Mix = "warm"): RouteInput & {
  sessionProperties: Record<string, string>;
} {
  const logged = LOGGED_READS[n % LOGGED_READS.length];
  let sqlText = logged.sqlText;
  if (mix === "cold") {
    // A CTE named after n: a template never seen before, still valid SQL of the same shape.
    const cte = `bench_${n} AS (SELECT 1)`;
    sqlText = /^\s*with\b/i.test(sqlText)
      ? sqlText.replace(/^\s*with\b/i, `WITH ${cte},`)
      : `WITH ${cte} ${sqlText}`;
  } else if (LAST_NUMBER.test(sqlText)) sqlText = sqlText.replace(LAST_NUMBER, String(1000 + n));
  else sqlText += ` -- ${n}`;
  const hh = String(n % 24).padStart(2, "0");
  return {
    queryId: `20250811_${hh}3456_${String(n % 100_000).padStart(5, "0")}_bench`,
    user: logged.user,
    source: logged.source,
    sqlText,
    catalog: logged.catalog,
    schema: logged.schema,
    sessionProperties: {
      ...(logged.catalog ? { catalog: logged.catalog } : {}),
      ...(logged.schema ? { schema: logged.schema } : {}),
    },
  };
}

/** Percentile of sorted milliseconds. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
