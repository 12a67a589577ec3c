/**
 * Service configuration from environment variables, with embedded defaults that let
 * `deno task serve` run on a bare machine.
 *
 * @module
 */

/** Everything the service reads from its environment. */
export interface Config {
  readonly host: string;
  readonly port: number;
  /** Address returned as `targetCluster` for light queries. */
  readonly smallCluster: string;
  /** Address returned as `targetCluster` for heavy queries and every fallback. */
  readonly largeCluster: string;
  readonly modelsDir: string;
  /** Optional HTTP model registry (see `httpModelSource`); replaces `modelsDir` when set. */
  readonly modelRegistryUrl?: string;
  /** Overrides the models folder's `DEFAULT` pointer. */
  readonly defaultModelVersion?: string;
  /** Largest accepted request body; Trino's own `query.max-length` is 1,000,000 characters. */
  readonly maxBodyBytes: number;
  readonly decisionCacheSize: number;
  /** Shared state; without it the service keeps state in memory. */
  readonly redisUrl?: string;
  /** Trino Gateway routing group for light queries (`GATEWAY_SMALL_GROUP`). */
  /** Operator-enabled log of completed queries joined with decisions (contains SQL). */
  readonly labeledLogPath?: string;
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
}

/** Configuration values when the environment says nothing. */
export const DEFAULT_CONFIG: Config = {
  host: "127.0.0.1",
  port: 8080,
  smallCluster: "trino-small.internal:8080",
  largeCluster: "trino-large.internal:8080",
  modelsDir: new URL("../models", import.meta.url).pathname,
  maxBodyBytes: 1024 * 1024,
  decisionCacheSize: 10_000,
  labelCpuSeconds: 300,
  labelPeakMemoryBytes: 10 * 1024 ** 3,
  extProcHost: "127.0.0.1",
  gatewaySmallGroup: "small",
  gatewayLargeGroup: "large",
};

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

/**
 * Reads configuration from an environment map (`Deno.env.toObject()` or `process.env`).
 *
 * @example
 * ```ts
 * import { configFromEnv } from "./config.ts";
 * const config = configFromEnv({ PORT: "9090", LARGE_CLUSTER: "trino-large:8443" });
 * console.assert(config.port === 9090 && config.largeCluster === "trino-large:8443");
 * ```
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): Config {
  const d = DEFAULT_CONFIG;
  return {
    host: env.HOST || d.host,
    port: positiveInteger("PORT", env.PORT, d.port),
    smallCluster: env.SMALL_CLUSTER || d.smallCluster,
    largeCluster: env.LARGE_CLUSTER || d.largeCluster,
    modelsDir: env.MODELS_DIR || d.modelsDir,
    modelRegistryUrl: env.MODEL_REGISTRY_URL || undefined,
    defaultModelVersion: env.DEFAULT_MODEL_VERSION || undefined,
    maxBodyBytes: positiveInteger("MAX_BODY_BYTES", env.MAX_BODY_BYTES, d.maxBodyBytes),
    decisionCacheSize: positiveInteger(
      "DECISION_CACHE_SIZE",
      env.DECISION_CACHE_SIZE,
      d.decisionCacheSize,
    ),
    redisUrl: env.REDIS_URL || undefined,
    labeledLogPath: env.LABELED_LOG_PATH || undefined,
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
  };
}
