/**
 * One server process per core behind one port: with `WORKERS` > 1, `src/main.ts` becomes a
 * supervisor that starts that many copies of itself, each listening on the same port with
 * `SO_REUSEPORT` (the kernel spreads connections across them), restarts any that dies, and
 * forwards SIGINT/SIGTERM. Processes rather than threads: each has its own event loop, V8 heap
 * and ONNX session, so a core's worth of work never waits on another's garbage collection.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { RUNTIME_FILES, servePermissions } from "./serve_permissions.ts";

/** Command-line argument that marks a worker process (followed by its index from 0). */
const WORKER_ARG = "--worker";

/**
 * True in a worker process started by {@linkcode superviseWorkers}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWorkerProcess } from "./supervisor.ts";
 * assert.equal(isWorkerProcess(), false);
 * ```
 */
export function isWorkerProcess(): boolean {
  return Deno.args.includes(WORKER_ARG);
}

/**
 * Runs `workers` copies of `entry` until SIGINT/SIGTERM, then stops them and exits. Worker 0
 * alone keeps the ext_proc gRPC port (one listener; Envoy retries through it rarely).
 *
 * @example
 * ```ts ignore
 * // Not run here: it spawns worker processes and never returns (test/integration/workers_test.ts
 * // runs the supervised service).
 * if (config.workers > 1 && !isWorkerProcess()) {
 *   await superviseWorkers(config, new URL(import.meta.url), logger);
 * }
 * ```
 */
export async function superviseWorkers(
  config: Config,
  entry: URL,
  logger: Logger,
): Promise<never> {
  const { workers } = config;
  // The narrowest permissions, as deploy/serve.sh gives the single process.
  const permissions = servePermissions(config, RUNTIME_FILES)
    .filter((flag) => !flag.startsWith("--allow-run") && flag !== "--unstable-net");
  let stopping = false;
  const children = new Map<number, Deno.ChildProcess>();
  const start = (index: number) => {
    const env: Record<string, string> = index > 0 ? { EXT_PROC_PORT: "" } : {};
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        // `SO_REUSEPORT` on Linux is still behind this flag in Deno 2.
        "--unstable-net",
        ...permissions,
        entry.href,
        WORKER_ARG,
        String(index),
      ],
      env,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    children.set(index, child);
    child.status.then((status) => {
      if (stopping) return;
      logger.error("worker exited, restarting", {
        component: "supervisor",
        detail: `worker ${index} (pid ${child.pid}) exit code ${status.code}`,
      });
      // A worker that cannot start (bad model, port taken) would restart in a tight loop.
      setTimeout(() => start(index), 1_000);
    });
  };
  for (let i = 0; i < workers; i++) start(i);
  logger.info("supervising workers", { component: "supervisor", detail: `${workers} processes` });

  const stop = async () => {
    stopping = true;
    for (const child of children.values()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await Promise.all([...children.values()].map((child) => child.status));
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  // Runs until a signal exits the process.
  return await new Promise<never>(() => {});
}
