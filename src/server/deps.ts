/**
 * What every HTTP integration of the app is built from.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { RouteDecision, RouteInput, Router } from "../routing/router.ts";
import type { StoreHealth } from "../store/store.ts";
import type { RouterMetrics } from "./metrics.ts";

/** Shared dependencies of the app's sub-apps. */
export interface AppDeps {
  readonly config: Config;
  readonly router: Router;
  readonly metrics: RouterMetrics;
  readonly logger: Logger;
  /** Remembers a decision for the feedback loop; must not throw or block. */
  readonly recordDecision: (decision: RouteDecision, input: RouteInput) => void;
  /** The configured store's state, which `/readyz` reports. */
  readonly storeHealth: () => StoreHealth;
}
