/**
 * The router's state: the {@linkcode Store} interface, its in-memory and Redis implementations,
 * and {@linkcode createStore}, which picks one from configuration.
 *
 * @module
 */

import { MemoryStore, type MemoryStoreOptions } from "./memory_store.ts";
import { RedisStore, type RedisStoreOptions } from "./redis_store.ts";
import type { Store } from "./store.ts";

export * from "./store.ts";
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
} from "./circuit_breaker.ts";
export { DEFAULT_MAX_ENTRIES, MemoryStore, type MemoryStoreOptions } from "./memory_store.ts";
export {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  RedisStore,
  type RedisStoreOptions,
  type StoreLogger,
} from "./redis_store.ts";
export { registerStoreMetrics } from "./store_metrics.ts";

/**
 * Options of {@linkcode createStore}: a Redis URL selects the Redis store, its absence the
 * embedded memory store; the other fields tune whichever is chosen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateStoreOptions } from "./mod.ts";
 * const options: CreateStoreOptions = { redisUrl: Deno.env.get("REDIS_URL") };
 * assert(options.redisUrl === undefined || options.redisUrl.startsWith("redis"));
 * ```
 */
export interface CreateStoreOptions
  extends Omit<RedisStoreOptions, "url">, Pick<MemoryStoreOptions, "maxEntries"> {
  /** `redis://…` or `rediss://…`; empty or absent = in-memory store. Typically `REDIS_URL`. */
  readonly redisUrl?: string;
}

/** Thrown at startup when the store configuration cannot work. */
export class StoreConfigError extends Error {
  override name = "StoreConfigError";
}

/**
 * Creates the store the configuration asks for. A bad URL fails here, at startup; an unreachable
 * Redis does not (the store starts degraded and connects when Redis appears).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createStore } from "./mod.ts";
 * const store = createStore({});
 * assert(store.health().backend === "memory");
 * await store.close();
 * ```
 */
export function createStore(options: CreateStoreOptions = {}): Store {
  const { redisUrl, maxEntries, ...redisOptions } = options;
  if (redisUrl === undefined || redisUrl.trim() === "") {
    return new MemoryStore({ maxEntries, ttls: options.ttls, now: options.now });
  }
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch {
    throw new StoreConfigError(
      "REDIS_URL is not a URL: expected redis://host:port[/db] or rediss://host:port[/db]",
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new StoreConfigError(
      `REDIS_URL has scheme ${url.protocol}; use redis:// (or rediss:// for TLS)`,
    );
  }
  return new RedisStore({ ...redisOptions, url: redisUrl });
}
