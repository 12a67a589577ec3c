/**
 * A bounded map whose entries expire: the building block of the in-memory store.
 *
 * @module
 */

import { LruCache } from "../lru_cache.ts";

interface Entry<V> {
  readonly value: V;
  readonly expiresAt: number;
}

/**
 * A `Map` with a per-entry deadline and a size cap. Reads refresh recency and writes evict the
 * least recently used entry past the cap, so memory stays bounded under any query rate; expired
 * entries are dropped when met, which keeps every operation O(1) without a sweeper timer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TtlLru } from "./_ttl_lru.ts";
 * let now = 0;
 * const cache = new TtlLru<string>(2, () => now);
 * cache.set("a", "1", 10);
 * now = 11;
 * assert(cache.get("a") === undefined);
 * ```
 */
export class TtlLru<V> {
  readonly #entries: LruCache<string, Entry<V>>;
  readonly #now: () => number;

  constructor(
    maxEntries: number,
    now: () => number,
    bytes: { readonly maxBytes: number; readonly sizeOf: (value: V) => number } | undefined =
      undefined,
  ) {
    if (!(maxEntries >= 1)) {
      throw new RangeError(`maxEntries must be at least 1, got ${maxEntries}`);
    }
    this.#entries = new LruCache(maxEntries, {
      maxBytes: bytes?.maxBytes,
      sizeOf: bytes ? (entry) => bytes.sizeOf(entry.value) : undefined,
    });
    this.#now = now;
  }

  /** Number of entries held, expired ones not yet met included. */
  get size(): number {
    return this.#entries.size;
  }

  /** The live value under `key`, refreshed as most recently used. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Stores `value` for `ttlMs` milliseconds, evicting the oldest entries past the cap. */
  set(key: string, value: V, ttlMs: number): void {
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
  }

  /** Removes `key` and returns its live value, if any. */
  take(key: string): V | undefined {
    const value = this.get(key);
    this.#entries.delete(key);
    return value;
  }

  /** Live entries with their remaining lifetime in ms, least recently used first. */
  *live(): Generator<[key: string, value: V, remainingMs: number]> {
    const now = this.#now();
    for (const [key, entry] of this.#entries.entries()) {
      if (entry.expiresAt > now) yield [key, entry.value, entry.expiresAt - now];
    }
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
  }
}
