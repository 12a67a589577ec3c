/**
 * The Envoy ext_proc gRPC server (`envoy.service.ext_proc.v3.ExternalProcessor`) that performs the transparent retry on Large.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Registry } from "prom-client";
import { DEFAULT_CONFIG } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/store.ts";
import type { ProcessingRequest, ProcessingResponse } from "./messages.ts";
import { registerRetryMetrics, type RetryMetrics } from "./retry_metrics.ts";
import { RetryProcessor } from "./retry_processor.ts";

/** Directory of the minimal Envoy protos (same package, names and field numbers as Envoy's). */
export const PROTO_DIR: string = new URL("./proto/", import.meta.url).pathname;

/** The service file inside {@linkcode PROTO_DIR}. */
export const EXT_PROC_PROTO = "envoy/service/ext_proc/v3/external_processor.proto";

/**
 * Loads the ext_proc service definition (also used by tests' clients that play Envoy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadExtProcPackage } from "./server.ts";
 * const pkg = loadExtProcPackage();
 * assert(typeof pkg.envoy === "object");
 * ```
 */
export function loadExtProcPackage(): grpc.GrpcObject {
  const definition = protoLoader.loadSync(EXT_PROC_PROTO, {
    includeDirs: [PROTO_DIR],
    // Field names as in Envoy's protos; oneof names tell which message kind arrived.
    keepCase: true,
    enums: String,
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

/**
 * The `ExternalProcessor` service constructor from a loaded package.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { extProcService, loadExtProcPackage } from "./server.ts";
 * const service = extProcService(loadExtProcPackage());
 * assert(typeof service === "function");
 * ```
 */
export function extProcService(pkg: grpc.GrpcObject): grpc.ServiceClientConstructor {
  const v3 = (((pkg.envoy as grpc.GrpcObject).service as grpc.GrpcObject)
    .ext_proc as grpc.GrpcObject).v3 as grpc.GrpcObject;
  return v3.ExternalProcessor as grpc.ServiceClientConstructor;
}

/**
 * Options of {@linkcode startExtProcServer}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import type { ExtProcServerOptions } from "./server.ts";
 * const options: ExtProcServerOptions = {
 *   store: new MemoryStore(),
 *   largeClusterUrl: "http://127.0.0.1:18082",
 *   port: 0,
 * };
 * assert(options.port === 0);
 * await options.store.close();
 * ```
 */
export interface ExtProcServerOptions {
  readonly store: Store;
  /** Large's coordinator as the router reaches it directly (the retry's POST goes there). */
  readonly largeClusterUrl: string;
  /**
   * `host[:port]` clients use to reach Envoy; Large builds the retried query's `nextUri` from
   * it. Default: the `Host` (or `X-Forwarded-Host`) of the original request.
   */
  readonly envoyPublicHost?: string;
  /** Scheme clients use for Envoy; default: the original request's `X-Forwarded-Proto`. */
  readonly envoyPublicProto?: "http" | "https";
  /** 0 = any free port (see the returned `port`). */
  readonly port: number;
  /** Default `127.0.0.1`: only Envoy on the same host should reach it. */
  readonly host?: string;
  /** Where `trino_router_retries_total` is registered; default a private registry. */
  readonly metricsRegistry?: Registry;
  readonly logger?: Logger;
  /** Bound of the POST to Large; keep it below Envoy's ext_proc `message_timeout`. */
  readonly retryTimeoutMs?: number;
  /** A connection without a stream for this long is closed (`IDLE_TIMEOUT_MS`, same default). */
  readonly idleTimeoutMs?: number;
  /** PEM certificate chain and key: serve TLS (Envoy's cluster sets an `UpstreamTlsContext`). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/**
 * A running ext_proc server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { startExtProcServer } from "./server.ts";
 * const server = await startExtProcServer({
 *   store: new MemoryStore(), largeClusterUrl: "http://127.0.0.1:18082", port: 0,
 * });
 * assert.ok(server.port > 0); // a free loopback port
 * await server.close();
 * ```
 */
export interface ExtProcServer {
  readonly port: number;
  readonly metrics: RetryMetrics;
  /** Stops accepting streams; open streams get 2 s to finish, then are cancelled. */
  close(): Promise<void>;
}

/**
 * Starts the ext_proc gRPC server: TLS when `tls` is given, else plaintext HTTP/2 (for Envoy on
 * the same host).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { startExtProcServer } from "./server.ts";
 * const store = new MemoryStore();
 * const server = await startExtProcServer({
 *   store, largeClusterUrl: "http://127.0.0.1:18082", port: 0, host: "127.0.0.1",
 * });
 * assert(server.port > 0);
 * await server.close();
 * await store.close();
 * ```
 */
export async function startExtProcServer(options: ExtProcServerOptions): Promise<ExtProcServer> {
  const metrics = registerRetryMetrics(options.metricsRegistry ?? new Registry());
  const processor = new RetryProcessor({
    store: options.store,
    largeClusterUrl: options.largeClusterUrl,
    envoyPublicHost: options.envoyPublicHost,
    envoyPublicProto: options.envoyPublicProto,
    metrics,
    logger: options.logger,
    retryTimeoutMs: options.retryTimeoutMs,
  });
  // A connection with no stream for this long gets GOAWAY and is closed: also one that never
  // sent the HTTP/2 preface or sent half of it (without it, all three stayed open for good).
  const server = new grpc.Server({
    "grpc.max_connection_idle_ms": options.idleTimeoutMs ?? DEFAULT_CONFIG.idleTimeoutMs,
  });
  server.addService(extProcService(loadExtProcPackage()).service, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      serveStream(processor, call);
    },
  });
  const host = options.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${options.port}`,
      options.tls
        // `rootCerts` only verifies client certificates, which are not requested. Left null,
        // grpc-js passes every system root as `ca`, and Deno's TLS server then sends a
        // handshake too large for clients; the server's own chain keeps it small.
        ? grpc.ServerCredentials.createSsl(Buffer.from(options.tls.cert), [{
          cert_chain: Buffer.from(options.tls.cert),
          private_key: Buffer.from(options.tls.key),
        }], false)
        : grpc.ServerCredentials.createInsecure(),
      (error, bound) => error ? reject(error) : resolve(bound),
    );
  });
  return {
    port,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

// Envoy expects exactly one answer per message, in order; messages are handled one after
// another (each may wait on the store or on Large).
function serveStream(
  processor: RetryProcessor,
  call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>,
): void {
  const handler = processor.stream();
  let chain: Promise<void> = Promise.resolve();
  let open = true;
  const stop = () => open = false;
  call.on("cancelled", stop);
  call.on("error", stop);
  call.on("data", (message: ProcessingRequest) => {
    chain = chain.then(async () => {
      if (message.observability_mode) return;
      const answer = await handler.handle(message);
      if (open) call.write(answer);
    });
  });
  call.on("end", () => {
    chain = chain.then(() => {
      if (open) call.end();
    });
  });
}
