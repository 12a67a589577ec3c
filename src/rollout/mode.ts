/**
 * Rollout modes and the one rule that maps the classifier's answer to the cluster that is
 * actually used. The core router stays pure (light/heavy + reason); this policy lives in the
 * adapters' path, so `off`/`shadow` can measure the model on live traffic with zero risk.
 *
 * @module
 */

import type { QueryClass, RouteDecision } from "../routing/router.ts";
import { hashFraction } from "./sampling.ts";

/** The deployment stages, safest first. */
export const ROLLOUT_MODES = ["off", "shadow", "shadow-route", "canary", "full"] as const;

/**
 * - `off`: every query on Large; the router still answers.
 * - `shadow`: decide and record, every query on Large.
 * - `shadow-route`: as `shadow`, plus background copies of sampled light reads on Small.
 * - `canary`: the model's "light" is honoured for `canaryPercent` of users.
 * - `full`: the model's decision is applied.
 */
export type RolloutMode = typeof ROLLOUT_MODES[number];

/** Modes in which the model's "light" reaches Small, so that a guard trip must stop them. */
export const APPLYING_MODES: ReadonlySet<RolloutMode> = new Set(["canary", "full"]);

/**
 * True for a known mode name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRolloutMode } from "./mode.ts";
 * assert.ok(isRolloutMode("shadow-route"));
 * assert.ok(!isRolloutMode("yolo"));
 * ```
 */
export function isRolloutMode(value: unknown): value is RolloutMode {
  return typeof value === "string" && (ROLLOUT_MODES as readonly string[]).includes(value);
}

/** Canary buckets: a percentage with two decimals (0.01 % steps). */
const BUCKETS = 10_000;

/**
 * The canary bucket of a user, in `[0, 10000)`, from `sha256(user)` ({@linkcode hashFraction}). The key is
 * the Trino user (`X-Trino-User`, or `user` in `POST /v1/route`): one user sees one behaviour
 * for all of their queries, every replica computes the same bucket, and raising the percentage
 * only adds users (a user in at 2 % stays in at 10 %). A query without a user has the bucket of
 * the empty string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canaryBucket } from "./mode.ts";
 * assert.equal(canaryBucket("alice"), canaryBucket("alice"));
 * assert.ok(canaryBucket("alice") >= 0 && canaryBucket("alice") < 10_000);
 * ```
 */
export function canaryBucket(user: string | undefined): number {
  return Math.floor(hashFraction(user ?? "") * BUCKETS);
}

/**
 * True when the user's queries follow the model at `percent` (0–100).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inCanary } from "./mode.ts";
 * assert.ok(inCanary("alice", 100));
 * assert.ok(!inCanary("alice", 0));
 * ```
 */
export function inCanary(user: string | undefined, percent: number): boolean {
  return bucketInCanary(canaryBucket(user), percent);
}

/**
 * True when a canary bucket (see {@linkcode canaryBucket}) is inside `percent` (0–100).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bucketInCanary } from "./mode.ts";
 * assert.ok(bucketInCanary(199, 2));
 * assert.ok(!bucketInCanary(200, 2));
 * ```
 */
export function bucketInCanary(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * (BUCKETS / 100));
}

/**
 * The class whose cluster is used for a decision under a mode: heavy always stays heavy (writes,
 * DDL and fallbacks included); light is honoured in `full`, and in `canary` for the users in
 * the canary share; every other mode sends everything to Large. `bucket` gives the user's canary
 * bucket, asked only in `canary` for a light decision (callers may memoise it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { appliedClass, canaryBucket } from "./mode.ts";
 * const alice = () => canaryBucket("alice");
 * assert.equal(appliedClass("light", "shadow", 0, alice), "heavy");
 * assert.equal(appliedClass("light", "full", 0, alice), "light");
 * assert.equal(appliedClass("heavy", "full", 0, alice), "heavy");
 * ```
 */
export function appliedClass(
  decision: QueryClass,
  mode: RolloutMode,
  canaryPercent: number,
  bucket: () => number,
): QueryClass {
  if (decision === "heavy") return "heavy";
  if (mode === "full") return "light";
  if (mode === "canary") return bucketInCanary(bucket(), canaryPercent) ? "light" : "heavy";
  return "heavy";
}

/**
 * A decision after the rollout policy: the core's answer (`decision`, `reason`, score) is kept
 * as the model gave it, `applied` is the class whose cluster is used and `targetCluster` is that
 * cluster.
 */
export interface AppliedDecision extends RouteDecision {
  readonly applied: QueryClass;
  readonly rolloutMode: RolloutMode;
}
