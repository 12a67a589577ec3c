/**
 * Deterministic sampling: a key's place in `[0, 1)` from its SHA-256, so that every replica
 * samples (and buckets canary users) alike, whatever the process or the order of requests.
 *
 * @module
 */

import { createHash } from "node:crypto";

/**
 * The key's position in `[0, 1)`: the first 32 bits of `sha256(key)` over 2³².
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashFraction } from "./sampling.ts";
 * assert.equal(hashFraction("alice"), hashFraction("alice"));
 * assert.ok(hashFraction("alice") >= 0 && hashFraction("alice") < 1);
 * ```
 */
export function hashFraction(key: string): number {
  return createHash("sha256").update(key).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * True for the `rate` share (0–1) of keys.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inSample } from "./sampling.ts";
 * assert.ok(inSample("q1", 1));
 * assert.ok(!inSample("q1", 0));
 * ```
 */
export function inSample(key: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return hashFraction(key) < rate;
}
