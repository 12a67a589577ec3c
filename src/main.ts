/**
 * Deno entry point: `deno task serve`. Reads the environment, builds the service and serves it
 * until SIGINT/SIGTERM.
 *
 * @module
 */

import { configFromEnv } from "./config.ts";
import { createLogger } from "./log.ts";
import { createService } from "./service.ts";

const logger = createLogger();
const config = configFromEnv(Deno.env.toObject());
const service = await createService(config, { logger });
const server = Deno.serve({
  hostname: config.host,
  port: config.port,
  onListen: ({ hostname, port }) =>
    logger.info("listening", { component: "server", detail: `http://${hostname}:${port}` }),
}, service.app.fetch);

const shutdown = async () => {
  await server.shutdown();
  await service.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
