/**
 * Statement kind from the first meaningful tokens: the safety rule "writes and DDL go to
 * Large" hangs on this, so anything it cannot recognise is treated as a write.
 *
 * @module
 */

import type { Token } from "./lexer.ts";

/** The routing-relevant class of a statement. */
export type StatementKind = "read" | "write" | "ddl" | "utility";

/** Every statement kind, in the featurizer's one-hot order. */
export const STATEMENT_KINDS: readonly StatementKind[] = ["read", "write", "ddl", "utility"];

const READ_STARTS = new Set(["SELECT", "VALUES", "TABLE", "WITH"]);
const WRITE_STARTS = new Set([
  "INSERT",
  "UPDATE",
  "DELETE",
  "MERGE",
  "TRUNCATE",
  "CALL",
  "EXECUTE",
]);
const DDL_STARTS = new Set([
  "CREATE",
  "DROP",
  "ALTER",
  "COMMENT",
  "GRANT",
  "REVOKE",
  "DENY",
  "ANALYZE",
  "REFRESH",
  "SET", // SET SESSION / SET ROLE / SET PATH change server state.
  "RESET",
  "START",
  "COMMIT",
  "ROLLBACK",
  "PREPARE",
  "DEALLOCATE",
]);
const UTILITY_STARTS = new Set(["SHOW", "DESCRIBE", "DESC", "EXPLAIN", "USE"]);
/** Words inside a WITH query that turn it into a write (`WITH x AS (...) INSERT ...`). */
const WRITE_WORDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

/**
 * Classifies a statement by its leading tokens. `EXPLAIN ANALYZE` executes the query, so it is
 * classified by what follows it; a plain `EXPLAIN` only plans and is a utility.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lex } from "./lexer.ts";
 * import { statementKind } from "./statement_kind.ts";
 * assert(statementKind(lex("(SELECT 1)").tokens) === "read");
 * assert(statementKind(lex("create table t as select 1").tokens) === "ddl");
 * ```
 */
export function statementKind(tokens: readonly Token[]): StatementKind {
  let i = 0;
  while (i < tokens.length && tokens[i].text === "(") i++;
  const first = tokens[i]?.text;
  if (first === undefined) return "utility";
  if (first === "EXPLAIN") {
    return tokens[i + 1]?.text === "ANALYZE" ? statementKind(tokens.slice(i + 2)) : "utility";
  }
  if (UTILITY_STARTS.has(first)) return "utility";
  if (first === "WITH") {
    return tokens.some((t) => t.kind === "word" && WRITE_WORDS.has(t.text)) ? "write" : "read";
  }
  if (READ_STARTS.has(first)) return "read";
  if (WRITE_STARTS.has(first)) return "write";
  if (DDL_STARTS.has(first)) return "ddl";
  return "write";
}

/** True for kinds that must run on the Large cluster whatever the model says. */
export function mustRunOnLarge(kind: StatementKind): boolean {
  return kind === "write" || kind === "ddl";
}
