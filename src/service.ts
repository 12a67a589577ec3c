/**
 * Assembles the service from its configuration: model source → model set → router → app.
 * The Deno entry point (`src/main.ts`) and the tests both start the service through here.
 *
 * @module
 */

import type { Hono } from "hono";
import type { Config } from "./config.ts";
import { createLogger, type Logger, recordLog } from "./log.ts";
import { directoryModelSource, httpModelSource, type ModelSource } from "./model/model_source.ts";
import { mlflowModelSource } from "./model/mlflow_model_source.ts";
import { CHALLENGER_ALIAS } from "./model/mlflow_client.ts";
import { createModelReloader, type ModelReloader } from "./model/model_reloader.ts";
import { createFeatureDriftMonitor } from "./model/feature_drift.ts";
import { registerModelMetrics } from "./server/model_metrics.ts";
import { modelsAdminApi } from "./server/models_admin_api.ts";
import { createRouter, type RouteInput, type Router } from "./routing/router.ts";
import { createApp } from "./server/app.ts";
import { createCstPool } from "./features/cst_pool.ts";
import { templateCstCache } from "./features/cst_cache.ts";
import { extAuthzApi } from "./server/ext_authz_api.ts";
import { trinoGatewayApi } from "./server/trino_gateway_api.ts";
import { createRouterMetrics, type RouterMetrics } from "./server/metrics.ts";
import { eventsApi } from "./server/events_api.ts";
import { InFlightBudget } from "./server/serve_limits.ts";
import { createStore, registerStoreMetrics, type Store } from "./store/mod.ts";
import { createFeedbackLoop, type FeedbackLoop, registerFeedbackMetrics } from "./feedback/mod.ts";
import { startExtProcServer } from "./ext_proc/mod.ts";
import { decisionRecordKey } from "./sql/join_key.ts";
import { readServeMaterial, type ServeMaterial } from "./serve_options.ts";
import type { AppliedDecision } from "./rollout/mode.ts";
import { RolloutControl } from "./rollout/rollout_control.ts";
import { shadowRouteSmallUrl } from "./rollout/rollout_config.ts";
import { registerRolloutMetrics } from "./rollout/rollout_metrics.ts";
import { createRolloutPolicy, type DecisionExtras } from "./rollout/rollout_policy.ts";
import { ShadowRouter } from "./rollout/shadow_route.ts";
import { rolloutApi } from "./server/rollout_api.ts";

/** A running service's parts, for the entry point and for tests. */
export interface Service {
  readonly app: Hono;
  readonly router: Router;
  readonly metrics: RouterMetrics;
  readonly store: Store;
  readonly feedback: FeedbackLoop;
  /** The rollout mode every replica follows, and its guards. */
  readonly rollout: RolloutControl;
  /** Shadow-route copies to Small (used in `shadow-route` mode). */
  readonly shadow: ShadowRouter;
  /** The live model set's refresh controls (hot reload). */
  readonly reloader: ModelReloader;
  /** Port of the ext_proc retry server, when `EXT_PROC_PORT` enabled it. */
  readonly extProcPort?: number;
  close(): Promise<void>;
}

/**
 * Builds the service. Fails fast (before listening) when a model bundle is invalid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { createService } from "./service.ts";
 * const service = await createService(DEFAULT_CONFIG, { logger: { info() {}, warn() {}, error() {} } });
 * const response = await service.app.request("/readyz");
 * assert(response.status === 200);
 * await service.close();
 * ```
 */
export async function createService(
  config: Config,
  options: {
    logger?: Logger;
    /** The TLS files, when the caller already read them (default: read them here). */
    material?: ServeMaterial;
  } = {},
): Promise<Service> {
  const logger = options.logger ?? createLogger();
  const driftMonitor = createFeatureDriftMonitor();
  const reloader = await createModelReloader({
    source: modelSource(config, logger),
    defaultVersion: config.defaultModelVersion,
    pollIntervalMs: config.modelPollSeconds * 1000,
    log: recordLog(logger, "models"),
    observeFeatures: driftMonitor.observe,
  });
  const models = reloader.models;
  logger.info("models loaded", {
    component: "models",
    modelVersion: models.defaultVersion,
    detail: `${models.versions.join(",")} from ${reloader.origin}`,
  });
  templateCstCache.resize(config.cstCacheBytes);
  const parsePool = config.parseWorkers > 0
    ? createCstPool({ size: config.parseWorkers })
    : undefined;
  await parsePool?.ready;
  const material = options.material ?? await readServeMaterial(config);
  const store = createStore({
    redisUrl: config.redisUrl,
    tlsCa: material.redisCa,
    historyEpochMs: config.historyEpochMs,
    templateMissCacheMs: config.templateMissCacheMs,
    log: recordLog(logger, "store"),
  });
  const metrics = createRouterMetrics();
  const router = createRouter({
    models,
    clusters: { small: config.smallCluster, large: config.largeCluster },
    templateCache: store,
    history: store,
    cacheSize: config.decisionCacheSize,
    coldParse: parsePool?.parse,
    onTimings: metrics.observeStages,
  });
  const startedAtMs = Date.now();
  const { rollout: rolloutConfig } = config;
  if (rolloutConfig.challenger && !models.versions.includes(rolloutConfig.challenger)) {
    throw new Error(
      `ROLLOUT_CHALLENGER "${rolloutConfig.challenger}" is not a loaded model version ` +
        `(${models.versions.join(", ")})`,
    );
  }
  const rollout = new RolloutControl({
    store,
    initial: rolloutConfig,
    guards: rolloutConfig.guards,
    pollMs: rolloutConfig.pollMs,
    logger,
  });
  await rollout.start();
  const rolloutMetrics = registerRolloutMetrics(metrics.registry, rollout);
  const shadow = new ShadowRouter({
    ...rolloutConfig.shadowRoute,
    smallUrl: shadowRouteSmallUrl(rolloutConfig, config.smallCluster),
    onOutcome: (outcome, seconds) => rolloutMetrics.shadowCopy(outcome, seconds),
  });
  const policy = createRolloutPolicy({
    control: rollout,
    router,
    metrics: rolloutMetrics,
    shadow,
    featureSampleRate: rolloutConfig.featureSampleRate,
  });
  const feedback = createFeedbackLoop({
    guards: rollout.guards,
    store,
    thresholds: {
      cpuSeconds: config.labelCpuSeconds,
      peakMemoryBytes: config.labelPeakMemoryBytes,
    },
    labeledLogPath: config.labeledLogPath,
    labeledLogMaxBytes: config.labeledLogMaxBytes,
    // Events name a cluster by its name; decisions by the address the router answered.
    clusters: {
      small: [config.smallClusterName, config.smallCluster],
      large: [config.largeClusterName, config.largeCluster],
    },
    log: recordLog(logger, "feedback"),
  });
  registerStoreMetrics(metrics.registry, store);
  registerModelMetrics(metrics.registry, reloader, driftMonitor);
  registerFeedbackMetrics(metrics.registry, feedback);

  const recordDecision = (
    decision: AppliedDecision,
    input: RouteInput,
    extras?: DecisionExtras,
  ) => {
    // Keyed by the join key (plus the query id when known), never by a caller's id alone.
    const key = decisionRecordKey(input);
    store.putDecision(key, {
      queryId: input.queryId ?? key,
      decision: decision.decision,
      reason: decision.reason,
      modelVersion: decision.modelVersion,
      modelScore: decision.modelScore,
      statementKind: decision.statementKind,
      templateFingerprint: decision.templateFingerprint,
      targetCluster: decision.targetCluster,
      decidedAt: new Date().toISOString(),
      mode: decision.rolloutMode,
      ...(decision.historyEpoch === undefined ? {} : { historyEpoch: decision.historyEpoch }),
      ...extras,
    }).catch(() => {/* the store degrades on its own; a lost record costs one join */});
  };
  // One budget of request-body bytes for every endpoint of this process.
  const inFlight = new InFlightBudget(config.maxInFlightBytes);
  const app = createApp({
    config,
    inFlight,
    router,
    metrics,
    logger,
    recordDecision,
    rollout: policy,
    storeHealth: () => store.health(),
  }, [
    extAuthzApi,
    trinoGatewayApi,
    () => eventsApi({ feedback, adminToken: config.adminToken, inFlight }),
    () =>
      rolloutApi({
        control: rollout,
        models,
        feedback,
        adminToken: config.adminToken,
        startedAtMs,
      }),
    () => modelsAdminApi({ reloader, adminToken: config.adminToken }),
  ]);
  const extProc = config.extProcPort === undefined ? undefined : await startExtProcServer({
    store,
    largeClusterUrl: config.largeClusterUrl ?? `http://${config.largeCluster}`,
    envoyPublicHost: config.envoyPublicHost,
    port: config.extProcPort,
    host: config.extProcHost,
    idleTimeoutMs: config.idleTimeoutMs,
    metricsRegistry: metrics.registry,
    logger,
    tls: material.tls,
  });
  return {
    app,
    router,
    metrics,
    store,
    feedback,
    rollout,
    shadow,
    reloader,
    extProcPort: extProc?.port,
    async close() {
      await extProc?.close();
      await rollout.close();
      await shadow.idle();
      await feedback.close();
      await store.close();
      await reloader.close();
      parsePool?.close();
    },
  };
}

/** The configured model source: MLflow registry, HTTP registry, or the models folder. */
function modelSource(config: Config, logger: Logger): ModelSource {
  if (config.modelRegistry === "mlflow") {
    return mlflowModelSource({
      trackingUri: config.mlflowTrackingUri!,
      modelName: config.mlflowModelName,
      alias: config.mlflowModelAlias,
      // The registry's challenger is loaded beside the champion, so the rollout can score it.
      companions: [CHALLENGER_ALIAS],
      cacheDir: config.modelCacheDir,
      log: recordLog(logger, "models"),
    });
  }
  return config.modelRegistryUrl
    ? httpModelSource(config.modelRegistryUrl)
    : directoryModelSource(config.modelsDir);
}
