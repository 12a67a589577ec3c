/**
 * The key that joins a routing decision with the query's completion event. Envoy asks before
 * Trino has assigned a query id, so a decision made without one is stored under this key,
 * built from what both the request and Trino's event carry: user, source, session catalog and
 * schema, and the exact SQL text.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { RouteInput } from "./router.ts";

/**
 * The join key of a request or a logged query; identical for the two sides of one query.
 *
 * @example
 * ```ts
 * import { decisionJoinKey } from "./join_key.ts";
 * const key = decisionJoinKey({ sqlText: "SELECT 1", user: "alice" });
 * console.assert(key.startsWith("req:") && key === decisionJoinKey({ user: "alice", sqlText: "SELECT 1" }));
 * ```
 */
export function decisionJoinKey(
  input: Pick<RouteInput, "sqlText" | "user" | "source" | "catalog" | "schema">,
): string {
  return "req:" + createHash("sha256")
    .update(
      JSON.stringify([
        input.user ?? "",
        input.source ?? "",
        input.catalog ?? "",
        input.schema ?? "",
      ]),
    )
    .update("\0")
    .update(input.sqlText)
    .digest("hex")
    .slice(0, 32);
}
