/**
 * Test helper: real Envoy with `deploy/envoy/envoy.yaml` and its retry sections, the ext_proc retry server, and a stub ext_authz router that sends every query to Small.
 *
 * @module
 */

import { Registry } from "prom-client";
import { EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import type { HostPort } from "../../deploy/envoy/render.ts";
import { createLogger } from "../../src/log.ts";
import { type ExtProcServer, startExtProcServer } from "../../src/ext_proc/server.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/store.ts";

/** An ext_authz service that routes everything to `group` (the model is not under test). */
export function startStubAuthz(
  group: "small" | "large",
  tls?: { cert: string; key: string },
): { port: number; close(): Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
    () => new Response(null, { status: 200, headers: { "x-trino-routing-group": group } }),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

/** Everything the retry path needs, running. */
export interface RetryStack {
  readonly envoy: EnvoyProcess;
  readonly extProc: ExtProcServer;
  readonly store: Store;
  readonly registry: Registry;
  readonly logLines: string[];
  /** Reads `trino_router_retries_total{outcome}`. */
  retries(outcome: string): Promise<number>;
  /** Stops all; returns Envoy's output (access log) for diagnosis. */
  stop(): Promise<string>;
}

/**
 * Starts ext_proc (retrying on `large`), a stub ext_authz routing to Small, and Envoy.
 * `extProcUp: false` leaves the ext_proc cluster pointing at a closed port.
 */
export async function startRetryStack(options: {
  small: HostPort;
  large: HostPort;
  extProcUp?: boolean;
  store?: Store;
  routeTo?: "small" | "large";
  /** A real router's ext_authz endpoint; default a stub routing everything to `routeTo`. */
  router?: HostPort;
  /** Envoy → router (stub ext_authz and ext_proc) over TLS, verified against `caFile`. */
  tls?: { cert: string; key: string; caFile: string };
}): Promise<RetryStack> {
  const store = options.store ?? new MemoryStore();
  const registry = new Registry();
  const logLines: string[] = [];
  const extProc = await startExtProcServer({
    store,
    largeClusterUrl: `http://${options.large.host}:${options.large.port}`,
    port: 0,
    host: "127.0.0.1",
    metricsRegistry: registry,
    logger: createLogger((line) => logLines.push(line)),
    tls: options.tls,
  });
  if (options.extProcUp === false) await extProc.close();
  const authz = options.router
    ? { port: options.router.port, close: () => Promise.resolve() }
    : startStubAuthz(options.routeTo ?? "small", options.tls);
  let envoy: EnvoyProcess;
  try {
    envoy = await EnvoyProcess.start({
      router: options.router ?? { host: "127.0.0.1", port: authz.port },
      small: options.small,
      large: options.large,
      extProc: { host: "127.0.0.1", port: extProc.port },
      routerTls: options.tls && { caFile: options.tls.caFile, serverName: "localhost" },
    });
  } catch (error) {
    await authz.close();
    if (options.extProcUp !== false) await extProc.close();
    throw error;
  }
  return {
    envoy,
    extProc,
    store,
    registry,
    logLines,
    async retries(outcome) {
      const text = await registry.metrics();
      const match = text.match(
        new RegExp(`trino_router_retries_total\\{outcome="${outcome}"\\} (\\d+)`),
      );
      return match ? Number(match[1]) : NaN;
    },
    async stop() {
      const output = await envoy.stop();
      await authz.close();
      if (options.extProcUp !== false) await extProc.close();
      if (options.store === undefined) await store.close();
      return output;
    },
  };
}
