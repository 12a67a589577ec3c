/**
 * The narrowest Deno permissions the service runs with, derived from its configuration:
 * `--allow-net` to its listen addresses and configured upstreams only, `--allow-read` to the
 * models and the runtime files it loads, `--allow-write` only to the labeled log when enabled
 * (which it also stats, hence reads it too) and to the registry bundles' local copy
 * (`MODEL_REGISTRY=mlflow`), `--allow-env` to the {@linkcode ENV_NAMES}. `deploy/serve.sh`
 * (`deno task serve`, the container entry point) runs this module to print the flags, then starts
 * `src/main.ts` with them.
 *
 * @module
 */

import { type Config, configFromEnv, ENV_NAMES, readConfigEnv } from "./config.ts";
import { PROTO_DIR } from "./ext_proc/server.ts";
import { ortWasmPath } from "./model/onnx_scorer.ts";
import { cstWorkerReadPaths } from "./features/cst_pool.ts";
import { shadowRouteSmallUrl } from "./rollout/rollout_config.ts";

/** `host:port` of a URL, with the scheme's default port. */
function urlHostPort(raw: string): string {
  const url = new URL(raw);
  const port = url.port ||
    ({ "http:": "80", "https:": "443", "redis:": "6379", "rediss:": "6379" } as const)[
      url.protocol as "http:"
    ] || "";
  // IPv6 literals keep their brackets, as --allow-net expects.
  return port ? `${url.hostname}:${port}` : url.hostname;
}

/** The URL-valued settings inside a setting, at any depth. */
function configuredUrls(value: unknown): string[] {
  if (typeof value === "string") return /^(https?|rediss?):\/\//.test(value) ? [value] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(configuredUrls);
}

/** The strings inside a setting (file paths of a path setting), at any depth. */
function strings(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(strings);
}

/**
 * What each setting asks of the permissions: `net` (the URLs in it are upstreams), `read` (it names
 * files to read), `write` (a file the service appends to, and stats), `listen` (handled below),
 * `none`. A setting added to {@linkcode Config} does not type-check until it is classified here,
 * so a new upstream or file cannot be forgotten by `deno task serve`.
 */
const SETTING_ACCESS: { readonly [K in keyof Required<Config>]: Access } = {
  host: "listen",
  port: "listen",
  extProcPort: "listen",
  extProcHost: "listen",
  // Addresses handed to clients; Small's is also the default shadow-route target (below), Large's
  // the default retry target (below).
  smallCluster: "none",
  largeCluster: "none",
  smallClusterName: "none",
  largeClusterName: "none",
  modelsDir: "read",
  modelRegistryUrl: "net",
  defaultModelVersion: "none",
  modelRegistry: "none",
  mlflowTrackingUri: "net",
  mlflowModelName: "none",
  mlflowModelAlias: "none",
  // The registry's bundles are downloaded into, and served from, the local copy.
  modelCacheDir: "write",
  modelPollSeconds: "none",
  maxInFlightBytes: "none",
  bodyTimeoutMs: "none",
  headerTimeoutMs: "none",
  idleTimeoutMs: "none",
  maxConnections: "none",
  maxBodyBytes: "none",
  decisionCacheSize: "none",
  cstCacheBytes: "none",
  historyEpochMs: "none",
  templateMissCacheMs: "none",
  parseWorkers: "none",
  // WORKERS > 1 adds --allow-run for the Deno binary and --unstable-net (below).
  workers: "none",
  redisUrl: "net",
  redisCaFile: "read",
  labeledLogPath: "write",
  labeledLogMaxBytes: "none",
  labelCpuSeconds: "none",
  labelPeakMemoryBytes: "none",
  largeClusterUrl: "net",
  envoyPublicHost: "none",
  gatewaySmallGroup: "none",
  gatewayLargeGroup: "none",
  adminToken: "none",
  tls: "read",
  rollout: "net",
};
type Access = "listen" | "net" | "read" | "write" | "none";

/** Whether a model-source setting applies: one source serves the models. */
function inUse(config: Config, key: keyof Config): boolean {
  const mlflow = config.modelRegistry === "mlflow";
  if (key === "modelsDir") return !mlflow && !config.modelRegistryUrl;
  if (key === "modelCacheDir" || key === "mlflowTrackingUri") return mlflow;
  return true;
}

/** A listen address as `--allow-net` names it; port 0 (any) can only be allowed by host. */
function listenAddress(host: string, port: number): string {
  return port === 0 ? host : `${host}:${port}`;
}

/** Files and folders the service reads besides those the configuration names. */
export interface RuntimeFiles {
  /** The ext_proc protos, loaded when the gRPC server starts. */
  readonly protoDir: string;
  /** The onnxruntime-web WASM binary. */
  readonly ortWasm: string;
  /** What the cold-parse worker loads at run time when `PARSE_WORKERS` > 0. */
  readonly parseWorker: readonly string[];
}

/** The runtime files of this checkout or image. */
export const RUNTIME_FILES: RuntimeFiles = {
  protoDir: PROTO_DIR,
  ortWasm: ortWasmPath(),
  parseWorker: cstWorkerReadPaths(),
};

/**
 * What prom-client's process collectors read (memory, open and maximum file descriptors): these
 * three exactly, never all of `/proc/self` (its `environ` holds every variable).
 */
const PROCESS_METRIC_FILES = ["/proc/self/status", "/proc/self/limits", "/proc/self/fd"];

/**
 * The `deno run` permission flags for a configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configFromEnv } from "./config.ts";
 * import { servePermissions } from "./serve_permissions.ts";
 * const flags = servePermissions(
 *   configFromEnv({ HOST: "0.0.0.0", MODELS_DIR: "/models", REDIS_URL: "rediss://redis:6380" }),
 *   { protoDir: "/app/proto", ortWasm: "/app/ort.wasm", parseWorker: ["/app/src/"] },
 * );
 * const net = flags.find((flag) => flag.startsWith("--allow-net="))!.slice(12).split(",");
 * assert.ok(net.includes("0.0.0.0:8080") && net.includes("redis:6380"));
 * const read = flags.find((flag) => flag.startsWith("--allow-read="))!.slice(13).split(",");
 * assert.ok(read.includes("/models") && read.includes("/app/ort.wasm"));
 * assert.ok(read.includes("/app/src/")); // PARSE_WORKERS defaults to 1
 * assert.ok(!flags.some((flag) => flag.startsWith("--allow-write")));
 * ```
 */
export function servePermissions(config: Config, runtime: RuntimeFiles): string[] {
  const net = [listenAddress(config.host, config.port)];
  const read: string[] = [runtime.ortWasm, ...PROCESS_METRIC_FILES];
  if (config.parseWorkers > 0) read.push(...runtime.parseWorker);
  const write: string[] = [];
  for (const [key, access] of Object.entries(SETTING_ACCESS) as [keyof Config, Access][]) {
    const value = config[key];
    if (value === undefined || !inUse(config, key)) continue;
    if (access === "net") net.push(...configuredUrls(value).map(urlHostPort));
    if (access === "read" || access === "write") read.push(...strings(value));
    if (access === "write") write.push(...strings(value));
  }
  // The mode can become `shadow-route` at run time (admin endpoint), so the copies' target is
  // always allowed.
  net.push(urlHostPort(shadowRouteSmallUrl(config.rollout, config.smallCluster)));
  if (config.extProcPort !== undefined) {
    net.push(listenAddress(config.extProcHost, config.extProcPort));
    // The transparent retry resubmits to Large; see `startExtProcServer`.
    net.push(urlHostPort(config.largeClusterUrl ?? `http://${config.largeCluster}`));
    read.push(runtime.protoDir);
  }
  // proto-loader finds the protos with fs.accessSync(R_OK), which Deno answers only with the
  // process's uid: that one system value, and only when the gRPC server runs.
  const sys = config.extProcPort !== undefined ? ["--allow-sys=uid"] : [];
  const flags = [
    `--allow-net=${[...new Set(net)].join(",")}`,
    `--allow-read=${[...new Set(read)].join(",")}`,
    `--allow-env=${ENV_NAMES.join(",")}`,
    // Libraries probe other variables (`debug` lists the whole environment at load): they see
    // only the names above, the rest reads as unset instead of failing.
    "--ignore-env",
    ...sys,
  ];
  if (write.length > 0) flags.push(`--allow-write=${[...new Set(write)].join(",")}`);
  // WORKERS > 1: the supervisor starts copies of itself (`src/supervisor.ts`); workers share
  // the port, which Deno 2 keeps behind --unstable-net.
  if (config.workers > 1) flags.push(`--allow-run=${Deno.execPath()}`, "--unstable-net");
  return flags;
}

if (import.meta.main) {
  // One flag per line for deploy/serve.sh; a bad configuration fails here, before listening.
  console.log(servePermissions(configFromEnv(readConfigEnv()), RUNTIME_FILES).join("\n"));
}
