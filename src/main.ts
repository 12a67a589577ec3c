/**
 * Deno entry point: `deno task serve`. Reads the environment, builds the service and serves it
 * until SIGINT/SIGTERM; with `WORKERS` > 1 it supervises that many copies of itself instead.
 *
 * @module
 */

import { configFromEnv, readConfigEnv } from "./config.ts";
import { createLogger } from "./log.ts";
import { readServeMaterial, serveOptions } from "./serve_options.ts";
import { createService } from "./service.ts";
import { serveHttp } from "./server/http_listener.ts";
import { isWorkerProcess, superviseWorkers } from "./supervisor.ts";

const logger = createLogger();
const config = configFromEnv(readConfigEnv());
if (config.workers > 1 && !isWorkerProcess()) {
  await superviseWorkers(config, new URL(import.meta.url), logger);
}
const material = await readServeMaterial(config);
const service = await createService(config, { logger, material });
const server = await serveHttp(
  {
    ...serveOptions(
      config,
      material,
      ({ hostname, port, scheme }) =>
        logger.info("listening", {
          component: "server",
          detail: `${scheme}://${hostname}:${port}`,
        }),
    ),
    // Several worker processes share the port; the kernel spreads connections across them.
    reusePort: config.workers > 1,
    onRestart: (error, delayMs) =>
      logger.error("listener failed; listening again", {
        component: "server",
        error: error.message.slice(0, 120),
        detail: `in ${delayMs} ms`,
      }),
  },
  service.app.fetch,
);

const shutdown = async () => {
  await server.shutdown();
  await service.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
// logrotate renames the labeled log, then sends SIGHUP: the next line opens the path anew.
Deno.addSignalListener("SIGHUP", () => {
  service.feedback.reopenLabeledLog().catch((error) =>
    logger.error("labeled log reopen failed", { component: "feedback", error: error.name })
  );
});
