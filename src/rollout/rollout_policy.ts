/**
 * The rollout policy as the adapters see it: map the core's decision to the cluster that is
 * used under the current mode (cheap, on the request path), feed the guards, and after the
 * answer: score the challenger, sample the feature vector, submit a shadow-route copy.
 *
 * @module
 */

import type { RouteDecision, RouteInput, Router } from "../routing/router.ts";
import { clusterOf, type QueryClass } from "../routing/router.ts";
import { type SparseFeatures, sparseFeatures } from "./feature_sample.ts";
import { appliedClass, type AppliedDecision, canaryBucket } from "./mode.ts";
import { LruCache } from "../lru_cache.ts";
import type { RolloutControl } from "./rollout_control.ts";
import type { RolloutMetrics } from "./rollout_metrics.ts";
import { shadowEligibility, type ShadowRouter } from "./shadow_route.ts";

/** What the challenger decided for a query; recorded beside the champion's, never applied. */
export interface ChallengerDecision {
  readonly modelVersion: string;
  readonly decision: QueryClass;
  readonly modelScore: number;
  readonly reason: string;
}

/** What a decision record carries besides the decision itself. */
export interface DecisionExtras {
  readonly challenger?: ChallengerDecision;
  /** The champion's feature vector, for a sampled share of queries (numbers only, no SQL). */
  readonly features?: SparseFeatures;
}

/** The rollout as the HTTP adapters use it. */
export interface RolloutPolicy {
  /** The decision under the current mode: `applied` and `targetCluster` say where it runs. */
  apply(decision: RouteDecision, input: RouteInput): AppliedDecision;
  /** One routing attempt for the guards: class and seconds, or `failed` (fell back to Large). */
  observeRouting(outcome: { seconds: number; decision: QueryClass } | "failed"): void;
  /**
   * The work to do after the answer (challenger, feature sample, shadow-route copy), as a
   * function to run later, or `undefined` when there is none (the common case costs one check).
   * `trinoHeaders` are the client's headers when the adapter saw them (Envoy, Trino Gateway).
   * The returned promise never rejects.
   */
  followUp(
    decision: AppliedDecision,
    input: RouteInput,
    trinoHeaders?: Headers,
  ): (() => Promise<DecisionExtras>) | undefined;
}

/**
 * The policy of a router without rollout control: every decision is applied as the model gave
 * it (mode `full`), nothing else happens. What a library user embedding the app gets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FULL_ROLLOUT } from "./rollout_policy.ts";
 * const decision = { decision: "light", targetCluster: "small:8080" } as never;
 * assert.equal(FULL_ROLLOUT.apply(decision, { sqlText: "SELECT 1" }).applied, "light");
 * ```
 */
export const FULL_ROLLOUT: RolloutPolicy = {
  apply: (decision) => ({ ...decision, applied: decision.decision, rolloutMode: "full" }),
  observeRouting() {},
  followUp: () => undefined,
};

/** Options of {@linkcode createRolloutPolicy}. */
export interface RolloutPolicyOptions {
  readonly control: RolloutControl;
  readonly router: Router;
  readonly metrics: RolloutMetrics;
  /** Present when shadow-route can reach Small. */
  readonly shadow?: ShadowRouter;
  /** Share (0–1) of decisions whose feature vector is recorded. */
  readonly featureSampleRate: number;
}

/**
 * Creates the policy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createLogger } from "../log.ts";
 * import { createRouter } from "../routing/router.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { RolloutControl } from "./rollout_control.ts";
 * import { registerRolloutMetrics } from "./rollout_metrics.ts";
 * import { createRolloutPolicy } from "./rollout_policy.ts";
 * const router = createRouter({
 *   models: await modelSetFromBundles([]), clusters: { small: "s", large: "l" },
 * });
 * const control = new RolloutControl({
 *   store: new MemoryStore(), logger: createLogger(() => {}),
 *   initial: { mode: "shadow", canaryPercent: 0 },
 * });
 * const policy = createRolloutPolicy({
 *   control, router, metrics: registerRolloutMetrics(new Registry(), control), featureSampleRate: 0,
 * });
 * const decision = await router.route({ sqlText: "SELECT 1" });
 * const applied = policy.apply(decision, { sqlText: "SELECT 1" });
 * assert.equal(applied.decision, "light");
 * assert.equal(applied.targetCluster, "l");
 * ```
 */
export function createRolloutPolicy(options: RolloutPolicyOptions): RolloutPolicy {
  const { control, router, metrics, shadow, featureSampleRate } = options;
  const { clusters } = router;
  // Hashing a user costs tens of microseconds; a fleet has far fewer users than this.
  const buckets = new LruCache<string, number>(10_000);
  const bucketOf = (user: string | undefined) => {
    const key = user ?? "";
    let bucket = buckets.get(key);
    if (bucket === undefined) buckets.set(key, bucket = canaryBucket(user));
    return bucket;
  };

  async function challengerDecision(
    decision: RouteDecision,
    input: RouteInput,
    version: string | undefined,
  ): Promise<ChallengerDecision | undefined> {
    if (!version || version === decision.modelVersion) return undefined;
    if (decision.reason === "write-statement") return undefined;
    try {
      const other = await router.route(input, version);
      metrics.challenger(version, other.decision === decision.decision);
      return {
        modelVersion: other.modelVersion,
        decision: other.decision,
        modelScore: other.modelScore,
        reason: other.reason,
      };
    } catch {
      // A challenger that was unloaded or fails costs its own record, never the champion's.
      return undefined;
    }
  }

  function featureSample(
    decision: RouteDecision,
    input: RouteInput,
  ): SparseFeatures | undefined {
    try {
      return sparseFeatures(router.models.get(decision.modelVersion).featurize(input).vector);
    } catch {
      return undefined;
    }
  }

  return {
    apply(decision, input) {
      const { mode, canaryPercent } = control.state;
      const applied = appliedClass(
        decision.decision,
        mode,
        canaryPercent,
        () => bucketOf(input.user),
      );
      metrics.decision(mode, decision.decision, applied);
      return {
        ...decision,
        applied,
        rolloutMode: mode,
        targetCluster: clusters[clusterOf(applied)],
      };
    },
    observeRouting(outcome) {
      control.guards.routing(outcome);
    },
    followUp(decision, input, trinoHeaders) {
      const { mode, challenger: version } = control.state;
      const copy = shadow !== undefined && mode === "shadow-route";
      // A monitoring sample, not a decision: a random draw is enough and costs no hashing.
      const sampleFeatures = featureSampleRate > 0 && Math.random() < featureSampleRate;
      if (!copy && !version && !sampleFeatures) return undefined;
      return async () => {
        if (copy && shadowEligibility(decision, input, trinoHeaders, shadow.sample) === "copy") {
          shadow.submit(input, trinoHeaders!);
        }
        const challenger = await challengerDecision(decision, input, version);
        const features = sampleFeatures ? featureSample(decision, input) : undefined;
        return { ...(challenger ? { challenger } : {}), ...(features ? { features } : {}) };
      };
    },
  };
}
