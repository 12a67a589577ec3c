/** Shared helpers of the unit tests: the tiny ONNX fixture model and a quiet service. */
import { fileURLToPath } from "node:url";
import { type Config, DEFAULT_CONFIG } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import type { ModelSet } from "../../src/model/model_set.ts";
import { createRouter } from "../../src/routing/router.ts";
import { createApp } from "../../src/server/app.ts";
import { createRouterMetrics } from "../../src/server/metrics.ts";

/** Folder holding `tiny-xgb/` (an ONNX model trained on random vectors) and nothing else. */
export const FIXTURE_MODELS_DIR = fileURLToPath(new URL("../fixtures/models", import.meta.url));

/** Admin token of {@linkcode TEST_CONFIG}. */
export const TEST_ADMIN_TOKEN = "test-admin-token";

/** `Authorization` header carrying {@linkcode TEST_ADMIN_TOKEN}. */
export const ADMIN_HEADERS = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } as const;

/** Service configuration pointing at the fixture models. */
export const TEST_CONFIG: Config = {
  ...DEFAULT_CONFIG,
  adminToken: TEST_ADMIN_TOKEN,
  modelsDir: FIXTURE_MODELS_DIR,
  smallCluster: "small.test:8080",
  largeCluster: "large.test:8080",
  // Cold templates parse inline: decisions here must not depend on how loaded the machine is
  // (the pool's budget is tested in cst_pool_test.ts and through the real servers).
  parseWorkers: 0,
};

/** A logger that keeps its lines for assertions. */
export function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string, fields?: object) =>
    lines.push(JSON.stringify({ level, message, ...fields }));
  return { lines, info: push("info"), warn: push("warn"), error: push("error") };
}

/**
 * A quiet app serving `apis` with a router over `models` (clusters `s` and `l`), for tests that
 * exercise endpoints against real model bundles.
 */
export function appForModels(models: ModelSet, apis: Parameters<typeof createApp>[1]) {
  const metrics = createRouterMetrics();
  const router = createRouter({
    models,
    clusters: { small: "s", large: "l" },
    onTimings: metrics.observeStages,
  });
  return createApp({
    config: DEFAULT_CONFIG,
    router,
    metrics,
    logger: createLogger(() => {}),
    recordDecision: () => {},
    storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
  }, apis);
}
