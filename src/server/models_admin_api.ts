/**
 * `POST /v1/models/refresh`: hot reload on request, behind the admin token. The same refresh
 * the poller runs: load what the model source offers now beside the serving set, check it, swap.
 *
 * @module
 */

import { Hono } from "hono";
import type { ModelReloader } from "../model/model_reloader.ts";
import { requireAdmin } from "./admin_auth.ts";

/** Options of {@linkcode modelsAdminApi}. */
export interface ModelsAdminApiOptions {
  readonly reloader: Pick<ModelReloader, "refresh">;
  /** `ROUTER_ADMIN_TOKEN`; unset disables the endpoint (403). */
  readonly adminToken: string | undefined;
}

/** HTTP status per refresh outcome: a refused bundle is the caller's data, an outage is upstream. */
const STATUS = { swapped: 200, unchanged: 200, refused: 422, source_error: 502 } as const;

/**
 * The models admin sub-app. Answers `{"outcome", "servingVersion", "previousVersion",
 * "seconds"}`; `422` with `error` when the new bundle was refused, `502` when the source could
 * not be reached. Either way the serving model keeps serving.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelsAdminApi } from "./models_admin_api.ts";
 * const reloader = {
 *   refresh: () =>
 *     Promise.resolve({ outcome: "unchanged" as const, servingVersion: "v1", previousVersion: "v1", seconds: 0 }),
 * };
 * const app = modelsAdminApi({ reloader, adminToken: "s3cret" });
 * assert.equal((await app.request("/v1/models/refresh", { method: "POST" })).status, 401);
 * const ok = await app.request("/v1/models/refresh", {
 *   method: "POST",
 *   headers: { authorization: "Bearer s3cret" },
 * });
 * assert.equal((await ok.json()).servingVersion, "v1");
 * ```
 */
export function modelsAdminApi(options: ModelsAdminApiOptions): Hono {
  const app = new Hono();
  app.post("/v1/models/refresh", requireAdmin(options.adminToken), async (c) => {
    const result = await options.reloader.refresh("api");
    return c.json(result, STATUS[result.outcome]);
  });
  return app;
}
