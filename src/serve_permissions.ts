/**
 * The narrowest Deno permissions the service runs with, derived from its configuration:
 * `--allow-net` to its listen addresses and configured upstreams only, `--allow-read` to the
 * models and the runtime files it loads, `--allow-write` only to the labeled log when enabled
 * and to the registry bundles' local copy (`MODEL_REGISTRY=mlflow`),
 * `--allow-env` to the {@linkcode ENV_NAMES}. `deploy/serve.sh` (`deno task serve`, the container
 * entry point) runs this module to print the flags, then starts `src/main.ts` with them.
 *
 * @module
 */

import { type Config, configFromEnv, ENV_NAMES, readConfigEnv } from "./config.ts";
import { PROTO_DIR } from "./ext_proc/server.ts";
import { ORT_WASM_PATH } from "./model/onnx_scorer.ts";
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

/** The URL-valued settings of a configuration, at any depth. */
function configuredUrls(value: unknown): string[] {
  if (typeof value === "string") return /^(https?|rediss?):\/\//.test(value) ? [value] : [];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(configuredUrls);
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
}

/** The runtime files of this checkout or image. */
export const RUNTIME_FILES: RuntimeFiles = { protoDir: PROTO_DIR, ortWasm: ORT_WASM_PATH };

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
 *   { protoDir: "/app/proto", ortWasm: "/app/ort.wasm" },
 * );
 * const net = flags.find((flag) => flag.startsWith("--allow-net="))!.slice(12).split(",");
 * assert.ok(net.includes("0.0.0.0:8080") && net.includes("redis:6380"));
 * assert.ok(flags.some((flag) => flag.startsWith("--allow-read=/models,/app/ort.wasm,")));
 * assert.ok(!flags.some((flag) => flag.startsWith("--allow-write")));
 * ```
 */
export function servePermissions(config: Config, runtime: RuntimeFiles): string[] {
  // Every upstream the configuration names as a URL (Redis, the model registry, Large, and any
  // URL a later setting adds), so that a new upstream cannot be forgotten here.
  const net = [listenAddress(config.host, config.port), ...configuredUrls(config).map(urlHostPort)];
  const read: string[] = [];
  const write: string[] = [];
  if (config.modelRegistry === "mlflow") {
    // The registry's bundles are downloaded into, and served from, the local copy.
    read.push(config.modelCacheDir);
    write.push(config.modelCacheDir);
  } else if (!config.modelRegistryUrl) read.push(config.modelsDir);
  read.push(runtime.ortWasm, ...PROCESS_METRIC_FILES);
  // The mode can become `shadow-route` at run time (admin endpoint), so the copies' target is
  // always allowed.
  net.push(urlHostPort(shadowRouteSmallUrl(config.rollout, config.smallCluster)));
  if (config.redisCaFile) read.push(config.redisCaFile);
  if (config.tls) read.push(config.tls.certFile, config.tls.keyFile);
  if (config.extProcPort !== undefined) {
    net.push(listenAddress(config.extProcHost, config.extProcPort));
    // The transparent retry resubmits to Large; see `startExtProcServer`.
    net.push(urlHostPort(config.largeClusterUrl ?? `http://${config.largeCluster}`));
    read.push(runtime.protoDir);
  }
  const flags = [
    `--allow-net=${[...new Set(net)].join(",")}`,
    `--allow-read=${[...new Set(read)].join(",")}`,
    `--allow-env=${ENV_NAMES.join(",")}`,
    // Libraries probe other variables (`debug` lists the whole environment at load): they see
    // only the names above, the rest reads as unset instead of failing.
    "--ignore-env",
  ];
  if (config.labeledLogPath) write.push(config.labeledLogPath);
  if (write.length > 0) flags.push(`--allow-write=${write.join(",")}`);
  return flags;
}

if (import.meta.main) {
  // One flag per line for deploy/serve.sh; a bad configuration fails here, before listening.
  console.log(servePermissions(configFromEnv(readConfigEnv()), RUNTIME_FILES).join("\n"));
}
