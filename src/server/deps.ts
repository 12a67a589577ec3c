/**
 * What every HTTP integration of the app is built from.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { RouteInput, Router } from "../routing/router.ts";
import type { StoreHealth } from "../store/store.ts";
import type { AppliedDecision } from "../rollout/mode.ts";
import type { DecisionExtras, RolloutPolicy } from "../rollout/rollout_policy.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { InFlightBudget } from "./serve_limits.ts";

/** Shared dependencies of the app's sub-apps. */
export interface AppDeps {
  readonly config: Config;
  readonly router: Router;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /**
   * Remembers a decision (with its mode, challenger and feature sample) for the feedback loop;
   * must not throw or block.
   */
  readonly recordDecision: (
    decision: AppliedDecision,
    input: RouteInput,
    extras?: DecisionExtras,
  ) => void;
  /** The rollout policy applied to every decision; without one, decisions apply as `full`. */
  readonly rollout?: RolloutPolicy;
  /** The configured store's state, which `/readyz` reports. */
  readonly storeHealth: () => StoreHealth;
  /** Request-body bytes in flight, shared by every endpoint; no limit without one. */
  readonly inFlight?: InFlightBudget;
}
