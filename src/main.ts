/**
 * Deno entry point: `deno task serve`. Reads the environment, builds the service and serves it
 * until SIGINT/SIGTERM.
 *
 * @module
 */

import { configFromEnv, readConfigEnv } from "./config.ts";
import { createLogger } from "./log.ts";
import { readServeMaterial, serveOptions } from "./serve_options.ts";
import { createService } from "./service.ts";
import { serveWithRecovery } from "./server/serve_limits.ts";

const logger = createLogger();
const config = configFromEnv(readConfigEnv());
const material = await readServeMaterial(config);
const service = await createService(config, { logger, material });
const server = serveWithRecovery(
  serveOptions(
    config,
    material,
    ({ hostname, port, scheme }) =>
      logger.info("listening", { component: "server", detail: `${scheme}://${hostname}:${port}` }),
  ),
  service.app.fetch,
  {
    onRestart: (error, delayMs) =>
      logger.error("listener failed; listening again", {
        component: "server",
        error: error.message.slice(0, 120),
        detail: `in ${delayMs} ms`,
      }),
  },
);

const shutdown = async () => {
  await server.shutdown();
  await service.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
