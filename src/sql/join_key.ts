/**
 * The key that joins a routing decision with the query's completion event. Envoy asks before
 * Trino has assigned a query id, so a decision made without one is stored under this key,
 * built from what both the request and Trino's event carry: user, source, session catalog and
 * schema, and the exact SQL text.
 *
 * Records are never keyed by a caller-chosen query id alone: `POST /v1/route` takes `queryId`
 * from its caller, who could otherwise overwrite the decision of any query. A record key always
 * includes the join key, so a caller can only write the router's own decision for the very SQL
 * and context it sent ({@linkcode decisionRecordKey}).
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * What the join key reads of a query: its SQL text and session identity, as both the routing
 * request and Trino's completion event carry them.
 */
export interface JoinKeyInput {
  readonly sqlText: string;
  readonly user?: string;
  readonly source?: string;
  readonly catalog?: string;
  readonly schema?: string;
}

/**
 * The join key of a request or a logged query; identical for the two sides of one query.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decisionJoinKey } from "./join_key.ts";
 * const key = decisionJoinKey({ sqlText: "SELECT 1", user: "alice" });
 * assert(key.startsWith("req:") && key === decisionJoinKey({ user: "alice", sqlText: "SELECT 1" }));
 * ```
 */
export function decisionJoinKey(
  input: JoinKeyInput,
): string {
  // Several records of one request need it (decision record, labeled log): the SQL is hashed
  // once per input object (inputs are read-only once built).
  let key = joinKeys.get(input);
  if (key === undefined) {
    key = computeJoinKey(input);
    joinKeys.set(input, key);
  }
  return key;
}

const joinKeys = new WeakMap<object, string>();

/**
 * Returns `derived`, a copy of `source` that differs in no field the join key reads (the
 * router's input with a history snapshot added), holding `source`'s join key: the request's
 * decision-cache key and its decision record then share one SHA-256 of the SQL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decisionJoinKey, sharingJoinKey } from "./join_key.ts";
 * const source = { sqlText: "SELECT 1", user: "alice" };
 * const derived = sharingJoinKey(source, { ...source, clientTags: ["a"] });
 * assert.equal(decisionJoinKey(derived), decisionJoinKey(source));
 * ```
 */
export function sharingJoinKey<T extends object>(
  source: JoinKeyInput,
  derived: T,
): T {
  // (A text that is not a string has no join key; the featurizer keys it apart.)
  if (typeof source.sqlText === "string") joinKeys.set(derived, decisionJoinKey(source));
  return derived;
}

function computeJoinKey(
  input: JoinKeyInput,
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

/**
 * The store key of a decision: the query id (when the caller gave one) bound to the join key,
 * else the join key alone. The completion event of the query yields both keys.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decisionJoinKey, decisionRecordKey } from "./join_key.ts";
 * const input = { sqlText: "SELECT 1", user: "alice" };
 * assert.equal(decisionRecordKey(input), decisionJoinKey(input));
 * const withId = decisionRecordKey({ ...input, queryId: "q1" });
 * assert.ok(withId.startsWith("id:q1|") && withId.endsWith(decisionJoinKey(input)));
 * assert.notEqual(withId, decisionRecordKey({ ...input, sqlText: "SELECT 2", queryId: "q1" }));
 * ```
 */
export function decisionRecordKey(
  input: JoinKeyInput & { readonly queryId?: string },
): string {
  const joinKey = decisionJoinKey(input);
  return input.queryId ? `id:${input.queryId}|${joinKey}` : joinKey;
}
