/**
 * Service configuration from environment variables, with embedded defaults that let
 * `deno task serve` run on a bare machine.
 *
 * @module
 */

import {
  DEFAULT_ROLLOUT_CONFIG,
  ROLLOUT_ENV_NAMES,
  type RolloutConfig,
  rolloutConfigFromEnv,
} from "./rollout/rollout_config.ts";
import { CHAMPION_ALIAS, MLFLOW_MODEL_NAME } from "./model/mlflow_client.ts";
import { DEFAULT_HISTORY_EPOCH_MS } from "./features/history.ts";

/** Everything the service reads from its environment. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** Address returned as `targetCluster` for light queries. */
  readonly smallCluster: string;
  /** Address returned as `targetCluster` for heavy queries and every fallback. */
  readonly largeCluster: string;
  /**
   * Names of the two clusters in completion events (`/v1/events/<name>`, Trino's
   * `node.environment`): `SMALL_CLUSTER_NAME`, `LARGE_CLUSTER_NAME`. No other name is accepted.
   */
  readonly smallClusterName: string;
  readonly largeClusterName: string;
  readonly modelsDir: string;
  /** Optional HTTP model registry (see `httpModelSource`); replaces `modelsDir` when set. */
  readonly modelRegistryUrl?: string;
  /** Overrides the models folder's `DEFAULT` pointer. */
  readonly defaultModelVersion?: string;
  /** `mlflow`: serve the MLflow registry alias below instead of `modelsDir` (`MODEL_REGISTRY`). */
  readonly modelRegistry?: "mlflow";
  /** MLflow tracking server, e.g. `http://mlflow:5000` (`MLFLOW_TRACKING_URI`). */
  readonly mlflowTrackingUri?: string;
  /** Registered-model name the router follows (`MLFLOW_MODEL_NAME`). */
  readonly mlflowModelName: string;
  /** Registry alias the router serves (`MLFLOW_MODEL_ALIAS`). */
  readonly mlflowModelAlias: string;
  /** Local copy of the last accepted registry bundle (`MODEL_CACHE_DIR`). */
  readonly modelCacheDir: string;
  /** Hot reload: poll the model source this often, in seconds; 0 = only on request. */
  readonly modelPollSeconds: number;
  /** Largest accepted request body; Trino's own `query.max-length` is 1,000,000 characters. */
  readonly maxBodyBytes: number;
  /**
   * Request-body bytes all endpoints together may hold at once (`MAX_IN_FLIGHT_BYTES`); past it
   * a request is answered at once with its endpoint's "busy" answer, its body unread.
   */
  readonly maxInFlightBytes: number;
  /**
   * Time a request's body may take to arrive (`BODY_TIMEOUT_MS`): the listener cuts a request
   * not whole within `HEADER_TIMEOUT_MS` + this time from its start (408, closed), and the
   * handler's read of it fails, giving its bytes back to the in-flight budget.
   */
  readonly bodyTimeoutMs: number;
  /**
   * Time a request's headers may take to arrive, counted from the connection's start or its
   * previous answer (`HEADER_TIMEOUT_MS`); past it the connection gets 408 and is closed.
   */
  readonly headerTimeoutMs: number;
  /** A keep-alive connection without a request for this long is closed (`IDLE_TIMEOUT_MS`). */
  readonly idleTimeoutMs: number;
  /**
   * Open client connections at most (`MAX_CONNECTIONS`); a new one past the cap sheds the
   * connection idle the longest. Keep it below the descriptor limit, with room for the rest.
   */
  readonly maxConnections: number;
  readonly decisionCacheSize: number;
  /**
   * Length of a history epoch in ms with Redis (`HISTORY_EPOCH_MS`, default 5000; 0: no epochs,
   * every decision reads history from Redis): see "Shared state" in the README.
   */
  readonly historyEpochMs: number;
  /**
   * With Redis, how long a replica keeps "this template is not marked heavy" before asking
   * again (`TEMPLATE_MISS_CACHE_MS`, default 1000; 0: every decision asks Redis).
   */
  readonly templateMissCacheMs: number;
  /** Byte budget of the template CST cache (`CST_CACHE_BYTES`). */
  readonly cstCacheBytes: number;
  /** Threads parsing cold templates off the event loop (`PARSE_WORKERS`); 0 parses inline. */
  readonly parseWorkers: number;
  /**
   * Server processes sharing the port (`WORKERS`): default the number of cores when state is
   * shared (`REDIS_URL`), else 1, since each process has its own in-memory store.
   */
  readonly workers: number;
  /** Shared state; without it the service keeps state in memory. */
  readonly redisUrl?: string;
  /** Trino Gateway routing group for light queries (`GATEWAY_SMALL_GROUP`). */
  /** Operator-enabled log of completed queries joined with decisions (contains SQL). */
  readonly labeledLogPath?: string;
  /** Largest labeled log file (`LABELED_LOG_MAX_BYTES`); past it lines are dropped and counted. */
  readonly labeledLogMaxBytes: number;
  /** CPU seconds at or above which a completed query is labelled heavy (design: 300). */
  readonly labelCpuSeconds: number;
  /** Peak user memory above which a completed query is labelled heavy (design: 10 GiB). */
  readonly labelPeakMemoryBytes: number;
  /** Port of the ext_proc gRPC server (transparent retry on Large); disabled when unset. */
  readonly extProcPort?: number;
  readonly extProcHost: string;
  /** Base URL of the Large cluster the ext_proc retry submits to, e.g. `http://trino-large:8080`. */
  readonly largeClusterUrl?: string;
  /** Host clients use to reach Envoy, so a retried query's `nextUri` points back through it. */
  readonly envoyPublicHost?: string;
  readonly gatewaySmallGroup: string;
  /** Trino Gateway routing group for heavy queries and every fallback (`GATEWAY_LARGE_GROUP`). */
  readonly gatewayLargeGroup: string;
  /**
   * Bearer token of the state-changing endpoints (`/v1/events/*`, admin endpoints), from
   * `ROUTER_ADMIN_TOKEN`; unset disables them (see `requireAdmin`).
   */
  readonly adminToken?: string;
  /**
   * PEM certificate chain and key files (`TLS_CERT_FILE`, `TLS_KEY_FILE`): when both are set the
   * router serves HTTPS and the ext_proc gRPC server serves TLS with them.
   */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** PEM CA bundle that verifies a `rediss://` Redis (`REDIS_CA_FILE`), e.g. a private CA. */
  readonly redisCaFile?: string;
  /** Rollout mode, canary share, guards, shadow route (`ROLLOUT_*`, `SHADOW_ROUTE_*`). */
  readonly rollout: RolloutConfig;
}

/**
 * Every environment variable the service reads. The service reads these names and no others
 * (never the whole environment), so it runs with `--allow-env=<these names>`; a variable added to
 * {@linkcode configFromEnv} must be listed here or it does not type-check.
 */
export const ENV_NAMES = [
  "HOST",
  "PORT",
  "SMALL_CLUSTER",
  "LARGE_CLUSTER",
  "SMALL_CLUSTER_NAME",
  "LARGE_CLUSTER_NAME",
  "MODELS_DIR",
  "MODEL_REGISTRY_URL",
  "DEFAULT_MODEL_VERSION",
  "MODEL_REGISTRY",
  "MLFLOW_TRACKING_URI",
  "MLFLOW_MODEL_NAME",
  "MLFLOW_MODEL_ALIAS",
  "MODEL_CACHE_DIR",
  "MODEL_POLL_SECONDS",
  "MAX_BODY_BYTES",
  "MAX_IN_FLIGHT_BYTES",
  "BODY_TIMEOUT_MS",
  "HEADER_TIMEOUT_MS",
  "IDLE_TIMEOUT_MS",
  "MAX_CONNECTIONS",
  "DECISION_CACHE_SIZE",
  "CST_CACHE_BYTES",
  "HISTORY_EPOCH_MS",
  "TEMPLATE_MISS_CACHE_MS",
  "PARSE_WORKERS",
  "WORKERS",
  "REDIS_URL",
  "REDIS_CA_FILE",
  "LABELED_LOG_PATH",
  "LABELED_LOG_MAX_BYTES",
  "LABEL_CPU_SECONDS",
  "LABEL_PEAK_MEMORY_BYTES",
  "EXT_PROC_PORT",
  "EXT_PROC_HOST",
  "LARGE_CLUSTER_URL",
  "ENVOY_PUBLIC_HOST",
  "GATEWAY_SMALL_GROUP",
  "GATEWAY_LARGE_GROUP",
  "TLS_CERT_FILE",
  "TLS_KEY_FILE",
  "ROUTER_ADMIN_TOKEN",
  ...ROLLOUT_ENV_NAMES,
] as const;

/** One of {@linkcode ENV_NAMES}. */
export type EnvName = typeof ENV_NAMES[number];

/** The environment as the service sees it: only the {@linkcode ENV_NAMES}. */
export type ConfigEnv = Readonly<Partial<Record<EnvName, string>>>;

/**
 * Reads the {@linkcode ENV_NAMES} one by one, so `--allow-env` can name exactly them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readConfigEnv } from "./config.ts";
 * const env = readConfigEnv((name) => name === "PORT" ? "9090" : undefined);
 * assert.deepEqual(env, { PORT: "9090" });
 * ```
 */
export function readConfigEnv(
  get: (name: EnvName) => string | undefined = (name) => Deno.env.get(name),
): ConfigEnv {
  const env: Partial<Record<EnvName, string>> = {};
  for (const name of ENV_NAMES) {
    const value = get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Configuration values when the environment says nothing. */
export const DEFAULT_CONFIG: Config = {
  host: "127.0.0.1",
  port: 8080,
  smallCluster: "trino-small.internal:8080",
  largeCluster: "trino-large.internal:8080",
  smallClusterName: "small",
  largeClusterName: "large",
  labeledLogMaxBytes: 1024 ** 3,
  modelsDir: new URL("../models", import.meta.url).pathname,
  mlflowModelName: MLFLOW_MODEL_NAME,
  mlflowModelAlias: CHAMPION_ALIAS,
  modelCacheDir: ".cache/router-models",
  modelPollSeconds: 0,
  maxBodyBytes: 1024 * 1024,
  maxInFlightBytes: 64 * 1024 * 1024,
  bodyTimeoutMs: 10_000,
  headerTimeoutMs: 10_000,
  // Above the 50 s after which Envoy drops an idle pooled connection to the router, so Envoy
  // closes first and never sends on a connection the router is closing.
  idleTimeoutMs: 60_000,
  // Room under a 1,024-descriptor limit for Redis, models, workers and the runtime's own.
  maxConnections: 900,
  decisionCacheSize: 10_000,
  cstCacheBytes: 16 * 1024 * 1024,
  historyEpochMs: DEFAULT_HISTORY_EPOCH_MS,
  templateMissCacheMs: 1_000,
  parseWorkers: 1,
  workers: 1,
  labelCpuSeconds: 300,
  labelPeakMemoryBytes: 10 * 1024 ** 3,
  extProcHost: "127.0.0.1",
  gatewaySmallGroup: "small",
  gatewayLargeGroup: "large",
  rollout: DEFAULT_ROLLOUT_CONFIG,
};

/** Poll interval of the registry alias when `MODEL_POLL_SECONDS` is unset. */
const DEFAULT_REGISTRY_POLL_SECONDS = 30;

/** A configuration value that cannot be used, naming the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** A limit where 0 would mean "refuse everything" or "no limit": at least 1. */
function atLeastOne(name: string, raw: string | undefined, fallback: number): number {
  const value = positiveInteger(name, raw, fallback);
  if (value < 1) throw new ConfigError(`${name} must be at least 1, got "${raw}"`);
  return value;
}

function nonNegativeNumber(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${name} must be a non-negative number, got "${raw}"`);
  }
  return value;
}

function modelRegistry(env: ConfigEnv): "mlflow" | undefined {
  const raw = env.MODEL_REGISTRY;
  if (raw === undefined || raw === "" || raw === "folder") return undefined;
  if (raw !== "mlflow") {
    throw new ConfigError(`MODEL_REGISTRY must be "mlflow" or "folder", got "${raw}"`);
  }
  if (!env.MLFLOW_TRACKING_URI) {
    throw new ConfigError("MODEL_REGISTRY=mlflow needs MLFLOW_TRACKING_URI");
  }
  return raw;
}

/** `WORKERS`, checked: several processes need a shared store, or feedback would not join. */
function workerCount(env: ConfigEnv): number {
  const shared = Boolean(env.REDIS_URL);
  const cores = navigator.hardwareConcurrency ?? 1;
  const workers = positiveInteger("WORKERS", env.WORKERS, shared ? cores : 1);
  if (workers < 1) throw new ConfigError(`WORKERS must be at least 1, got "${env.WORKERS}"`);
  if (workers > 1 && !shared) {
    throw new ConfigError(
      `WORKERS=${workers} needs REDIS_URL: each process would keep its own decisions and template cache`,
    );
  }
  return workers;
}

/**
 * Reads configuration from an environment map ({@linkcode readConfigEnv} or a test's literal).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configFromEnv } from "./config.ts";
 * const config = configFromEnv({ PORT: "9090", LARGE_CLUSTER: "trino-large:8443" });
 * assert.equal(config.port, 9090);
 * assert.equal(config.largeCluster, "trino-large:8443");
 * ```
 */
export function configFromEnv(env: ConfigEnv): Config {
  const d = DEFAULT_CONFIG;
  if (Boolean(env.TLS_CERT_FILE) !== Boolean(env.TLS_KEY_FILE)) {
    throw new ConfigError("TLS_CERT_FILE and TLS_KEY_FILE must be set together (or neither)");
  }
  if (env.REDIS_CA_FILE && !env.REDIS_URL?.startsWith("rediss://")) {
    throw new ConfigError("REDIS_CA_FILE is set but REDIS_URL is not a rediss:// (TLS) URL");
  }
  const registry = modelRegistry(env);
  return {
    host: env.HOST || d.host,
    port: positiveInteger("PORT", env.PORT, d.port),
    smallCluster: env.SMALL_CLUSTER || d.smallCluster,
    largeCluster: env.LARGE_CLUSTER || d.largeCluster,
    smallClusterName: env.SMALL_CLUSTER_NAME || d.smallClusterName,
    largeClusterName: env.LARGE_CLUSTER_NAME || d.largeClusterName,
    modelsDir: env.MODELS_DIR || d.modelsDir,
    modelRegistryUrl: env.MODEL_REGISTRY_URL || undefined,
    defaultModelVersion: env.DEFAULT_MODEL_VERSION || undefined,
    modelRegistry: registry,
    mlflowTrackingUri: env.MLFLOW_TRACKING_URI || undefined,
    mlflowModelName: env.MLFLOW_MODEL_NAME || d.mlflowModelName,
    mlflowModelAlias: env.MLFLOW_MODEL_ALIAS || d.mlflowModelAlias,
    modelCacheDir: env.MODEL_CACHE_DIR || d.modelCacheDir,
    modelPollSeconds: nonNegativeNumber(
      "MODEL_POLL_SECONDS",
      env.MODEL_POLL_SECONDS,
      registry ? DEFAULT_REGISTRY_POLL_SECONDS : d.modelPollSeconds,
    ),
    maxBodyBytes: positiveInteger("MAX_BODY_BYTES", env.MAX_BODY_BYTES, d.maxBodyBytes),
    bodyTimeoutMs: positiveInteger("BODY_TIMEOUT_MS", env.BODY_TIMEOUT_MS, d.bodyTimeoutMs),
    headerTimeoutMs: atLeastOne("HEADER_TIMEOUT_MS", env.HEADER_TIMEOUT_MS, d.headerTimeoutMs),
    idleTimeoutMs: atLeastOne("IDLE_TIMEOUT_MS", env.IDLE_TIMEOUT_MS, d.idleTimeoutMs),
    maxConnections: atLeastOne("MAX_CONNECTIONS", env.MAX_CONNECTIONS, d.maxConnections),
    maxInFlightBytes: positiveInteger(
      "MAX_IN_FLIGHT_BYTES",
      env.MAX_IN_FLIGHT_BYTES,
      d.maxInFlightBytes,
    ),
    decisionCacheSize: positiveInteger(
      "DECISION_CACHE_SIZE",
      env.DECISION_CACHE_SIZE,
      d.decisionCacheSize,
    ),
    cstCacheBytes: positiveInteger("CST_CACHE_BYTES", env.CST_CACHE_BYTES, d.cstCacheBytes),
    historyEpochMs: positiveInteger("HISTORY_EPOCH_MS", env.HISTORY_EPOCH_MS, d.historyEpochMs),
    templateMissCacheMs: positiveInteger(
      "TEMPLATE_MISS_CACHE_MS",
      env.TEMPLATE_MISS_CACHE_MS,
      d.templateMissCacheMs,
    ),
    parseWorkers: positiveInteger("PARSE_WORKERS", env.PARSE_WORKERS, d.parseWorkers),
    workers: workerCount(env),
    redisUrl: env.REDIS_URL || undefined,
    labeledLogPath: env.LABELED_LOG_PATH || undefined,
    labeledLogMaxBytes: positiveInteger(
      "LABELED_LOG_MAX_BYTES",
      env.LABELED_LOG_MAX_BYTES,
      d.labeledLogMaxBytes,
    ),
    labelCpuSeconds: positiveInteger("LABEL_CPU_SECONDS", env.LABEL_CPU_SECONDS, d.labelCpuSeconds),
    labelPeakMemoryBytes: positiveInteger(
      "LABEL_PEAK_MEMORY_BYTES",
      env.LABEL_PEAK_MEMORY_BYTES,
      d.labelPeakMemoryBytes,
    ),
    extProcPort: env.EXT_PROC_PORT
      ? positiveInteger("EXT_PROC_PORT", env.EXT_PROC_PORT, 0)
      : undefined,
    extProcHost: env.EXT_PROC_HOST || d.extProcHost,
    largeClusterUrl: env.LARGE_CLUSTER_URL || undefined,
    envoyPublicHost: env.ENVOY_PUBLIC_HOST || undefined,
    gatewaySmallGroup: env.GATEWAY_SMALL_GROUP || d.gatewaySmallGroup,
    gatewayLargeGroup: env.GATEWAY_LARGE_GROUP || d.gatewayLargeGroup,
    adminToken: env.ROUTER_ADMIN_TOKEN || undefined,
    tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE
      ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE }
      : undefined,
    redisCaFile: env.REDIS_CA_FILE || undefined,
    rollout: rolloutConfigFromEnv(env),
  };
}
