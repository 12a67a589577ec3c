/**
 * `/v1/admin/rollout`: the operator's view and controls of the rollout (mode, canary share,
 * re-arm after an automatic rollback, challenger, exit-criteria report), behind the admin
 * token. A change is written to the store and reaches every replica within one poll.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { FeedbackLoop } from "../feedback/feedback_loop.ts";
import type { ModelSet } from "../model/model_set.ts";
import { isRolloutMode, ROLLOUT_MODES } from "../rollout/mode.ts";
import { RolloutConflictError, type RolloutControl } from "../rollout/rollout_control.ts";
import { exitCriteria, type ReportSnapshot } from "../rollout/rollout_report.ts";
import { RolloutStateError } from "../rollout/rollout_state.ts";
import { requireAdmin } from "./admin_auth.ts";

/** Options of {@linkcode rolloutApi}. */
export interface RolloutApiOptions {
  readonly control: RolloutControl;
  readonly models: ModelSet;
  readonly feedback: Pick<FeedbackLoop, "sharedConfusion">;
  /** `ROUTER_ADMIN_TOKEN`; unset disables every endpoint here (403). */
  readonly adminToken: string | undefined;
  /** When this replica started (epoch ms), for the crash-free time. */
  readonly startedAtMs: number;
  readonly now?: () => number;
}

/** Base path of the rollout admin endpoints. */
export const ROLLOUT_ADMIN_PATH = "/v1/admin/rollout";

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Heavy share of the test split recorded in a manifest's `trainingData`, if any. */
function offlineHeavyShare(models: ModelSet, version: string): number | undefined {
  const counts = models.get(version).manifest.trainingData?.splitCounts;
  const test = isObject(counts) ? counts.test : undefined;
  if (!isObject(test) || typeof test.rows !== "number" || typeof test.heavy !== "number") {
    return undefined;
  }
  return test.rows > 0 ? test.heavy / test.rows : undefined;
}

/**
 * Gathers the report's snapshot from a running service.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeedbackLoop } from "../feedback/feedback_loop.ts";
 * import { createLogger } from "../log.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { RolloutControl } from "../rollout/rollout_control.ts";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { exitCriteria } from "../rollout/rollout_report.ts";
 * import { reportSnapshot } from "./rollout_api.ts";
 * const store = new MemoryStore();
 * const control = new RolloutControl({
 *   store, logger: createLogger(() => {}), initial: { mode: "shadow", canaryPercent: 2 },
 * });
 * await control.start();
 * const models = await modelSetFromBundles([]);
 * const feedback = createFeedbackLoop({ store, log: () => {} });
 * const startedAtMs = Date.now() - 60_000;
 * const snapshot = await reportSnapshot({ control, models, feedback, adminToken: undefined, startedAtMs });
 * assert.equal(snapshot.state.mode, "shadow");
 * assert.equal(snapshot.championVersion, "heuristic-v1");
 * assert.ok(exitCriteria(snapshot).length > 0);
 * await control.close();
 * ```
 */
export async function reportSnapshot(options: RolloutApiOptions): Promise<ReportSnapshot> {
  const { control, models, feedback } = options;
  const now = (options.now ?? Date.now)();
  const lastFailure = control.guards.lastFailureMs ?? options.startedAtMs;
  return {
    state: control.state,
    championVersion: models.defaultVersion,
    guards: control.guards.read(),
    fpr: control.guards.falsePositiveRate(),
    heavyShare: control.guards.heavyShare(),
    offlineHeavyShare: offlineHeavyShare(models, models.defaultVersion),
    crashFreeSeconds: (now - Math.max(lastFailure, options.startedAtMs)) / 1000,
    confusion: await feedback.sharedConfusion(),
    at: new Date(now).toISOString(),
  };
}

/**
 * The rollout admin sub-app, every route behind `Authorization: Bearer <ROUTER_ADMIN_TOKEN>`:
 * - `GET /v1/admin/rollout`: the state, the guards over the window, trips since start;
 * - `PUT /v1/admin/rollout` `{"mode": "canary", "canaryPercent": 10, "rearm": false}`: change
 *   mode and/or share; `400` for a bad value, `409` when a trip forbids it (re-arm needed, hold
 *   time, a guard still above its re-arm level);
 * - `PUT /v1/admin/rollout/challenger` `{"modelVersion": "v2" | null}`: `400` for a version
 *   that is not loaded;
 * - `GET /v1/admin/rollout/report`: the snapshot and the current stage's exit criteria.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeedbackLoop } from "../feedback/feedback_loop.ts";
 * import { createLogger } from "../log.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * import { RolloutControl } from "../rollout/rollout_control.ts";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { rolloutApi } from "./rollout_api.ts";
 * const store = new MemoryStore();
 * const control = new RolloutControl({
 *   store, logger: createLogger(() => {}), initial: { mode: "shadow", canaryPercent: 2 },
 * });
 * await control.start();
 * const models = await modelSetFromBundles([]);
 * const feedback = createFeedbackLoop({ store, log: () => {} });
 * const app = rolloutApi({ control, models, feedback, adminToken: "s3cret", startedAtMs: Date.now() });
 * assert.equal((await app.request("/v1/admin/rollout")).status, 401);
 * const changed = await app.request("/v1/admin/rollout", {
 *   method: "PUT",
 *   headers: { authorization: "Bearer s3cret" },
 *   body: JSON.stringify({ mode: "canary", canaryPercent: 5 }),
 * });
 * assert.equal((await changed.json()).state.mode, "canary");
 * await control.close();
 * ```
 */
export function rolloutApi(options: RolloutApiOptions): Hono {
  const { control, models } = options;
  const app = new Hono();
  const auth = requireAdmin(options.adminToken);
  const limit = bodyLimit({
    maxSize: 4096,
    onError: (c) => c.json({ error: "admin request body larger than 4096 bytes" }, 413),
  });

  const readBody = async (c: Context): Promise<Record<string, unknown> | string> => {
    try {
      const body: unknown = JSON.parse(await c.req.text());
      return isObject(body) ? body : "body must be a JSON object";
    } catch {
      return "body is not valid JSON";
    }
  };

  const view = () => ({
    state: control.state,
    guards: control.guards.read().map((r) => ({ ...r, value: finiteOrNull(r.value) })),
    trips: control.trips,
  });

  app.use("*", auth);

  app.get("/", (c) => c.json(view()));

  app.put("/", limit, async (c) => {
    const body = await readBody(c);
    if (typeof body === "string") return c.json({ error: body }, 400);
    const { mode, canaryPercent, rearm } = body;
    if (mode !== undefined && !isRolloutMode(mode)) {
      return c.json({ error: `mode must be one of ${ROLLOUT_MODES.join(", ")}` }, 400);
    }
    if (canaryPercent !== undefined && typeof canaryPercent !== "number") {
      return c.json({ error: "canaryPercent must be a number from 0 to 100" }, 400);
    }
    if (rearm !== undefined && typeof rearm !== "boolean") {
      return c.json({ error: "rearm must be a boolean" }, 400);
    }
    if (mode === undefined && canaryPercent === undefined && rearm === undefined) {
      return c.json({ error: "nothing to change: give mode, canaryPercent or rearm" }, 400);
    }
    try {
      await control.change({ mode, canaryPercent, rearm }, "admin");
      return c.json(view());
    } catch (error) {
      if (error instanceof RolloutStateError) return c.json({ error: error.message }, 400);
      if (error instanceof RolloutConflictError) return c.json({ error: error.message }, 409);
      throw error;
    }
  });

  app.put("/challenger", limit, async (c) => {
    const body = await readBody(c);
    if (typeof body === "string") return c.json({ error: body }, 400);
    const version = body.modelVersion;
    if (version !== null && typeof version !== "string") {
      return c.json({ error: "modelVersion must be a loaded model version or null" }, 400);
    }
    if (version !== null && !models.versions.includes(version)) {
      return c.json({
        error: `unknown model version "${version}"`,
        availableVersions: models.versions,
      }, 400);
    }
    await control.setChallenger(version ?? undefined);
    return c.json(view());
  });

  app.get("/report", async (c) => {
    const snapshot = await reportSnapshot(options);
    return c.json({
      snapshot: JSON.parse(JSON.stringify(snapshot, (_k, v) => finiteOrNull(v))),
      criteria: exitCriteria(snapshot),
    });
  });
  return new Hono().route(ROLLOUT_ADMIN_PATH, app);
}

/** JSON has no NaN: a rate without samples is `null`. */
function finiteOrNull(value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}
