/**
 * How the service listens and dials, from its configuration: the TLS material of the HTTPS
 * listener and the ext_proc gRPC server, the CA that verifies a `rediss://` Redis, and the
 * listener's options. Files are read here, once, at startup, so a missing or unreadable file
 * stops the service before it listens, naming the variable.
 *
 * @module
 */

import { type Config, ConfigError } from "./config.ts";
import type { HttpListenOptions } from "./server/http_listener.ts";

/** A PEM certificate chain and its private key. */
export interface TlsPem {
  readonly cert: string;
  readonly key: string;
}

/** The files the configuration names, read. */
export interface ServeMaterial {
  /** The router's own certificate and key; `undefined` = plaintext. */
  readonly tls?: TlsPem;
  /** The CA bundle that verifies Redis; `undefined` = the system roots. */
  readonly redisCa?: string;
}

async function readPem(variable: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`${variable}: cannot read ${path} (${(error as Error).name})`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new ConfigError(`${variable}: ${path} is not a PEM file`);
  }
  return text;
}

/**
 * Reads the TLS files the configuration names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { readServeMaterial } from "./serve_options.ts";
 * assert.deepEqual(await readServeMaterial(DEFAULT_CONFIG), {});
 * ```
 */
export async function readServeMaterial(config: Config): Promise<ServeMaterial> {
  const tls = config.tls && {
    cert: await readPem("TLS_CERT_FILE", config.tls.certFile),
    key: await readPem("TLS_KEY_FILE", config.tls.keyFile),
  };
  const redisCa = config.redisCaFile && await readPem("REDIS_CA_FILE", config.redisCaFile);
  return { ...(tls ? { tls } : {}), ...(redisCa ? { redisCa } : {}) };
}

/**
 * The options of the router's HTTP(S) listener (`serveHttp`): address, TLS material and
 * the connection limits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_CONFIG } from "./config.ts";
 * import { serveOptions } from "./serve_options.ts";
 * const options = serveOptions(DEFAULT_CONFIG, {});
 * assert.equal(options.port, DEFAULT_CONFIG.port);
 * assert.equal(options.limits.maxConnections, DEFAULT_CONFIG.maxConnections);
 * assert.equal("cert" in options, false);
 * ```
 */
export function serveOptions(
  config: Config,
  material: ServeMaterial,
  onListen?: (address: { hostname: string; port: number; scheme: "http" | "https" }) => void,
): HttpListenOptions {
  const scheme = material.tls ? "https" : "http";
  return {
    hostname: config.host,
    port: config.port,
    ...(material.tls ? { cert: material.tls.cert, key: material.tls.key } : {}),
    limits: {
      headerTimeoutMs: config.headerTimeoutMs,
      // Headers, then the body in its own time: the router's one body deadline.
      requestTimeoutMs: config.headerTimeoutMs + config.bodyTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
    },
    onListen: ({ hostname, port }) => onListen?.({ hostname, port, scheme }),
  };
}
