/**
 * A small bounded LRU map, for caches that must never grow with traffic: the router's decision
 * cache, and (with deadlines on top) the in-memory store.
 *
 * @module
 */

/**
 * Least-recently-used cache on top of `Map`'s insertion order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LruCache } from "./lru_cache.ts";
 * const cache = new LruCache<string, number>(2);
 * cache.set("a", 1); cache.set("b", 2); cache.get("a"); cache.set("c", 3);
 * assert(cache.get("b") === undefined && cache.get("a") === 1);
 * const sized = new LruCache<string, string>(10, { maxBytes: 5, sizeOf: (v) => v.length });
 * sized.set("x", "abc"); sized.set("y", "abc");
 * assert(sized.get("x") === undefined && sized.bytes === 3);
 * ```
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #maxBytes: number;
  readonly #sizeOf: ((value: V) => number) | undefined;
  #bytes = 0;

  /**
   * `capacity` bounds the entries; `maxBytes` with `sizeOf` also bounds their total size, for
   * values whose size the caller controls (a stored submission holds up to a megabyte of SQL).
   */
  constructor(
    readonly capacity: number,
    options: { readonly maxBytes?: number; readonly sizeOf?: (value: V) => number } = {},
  ) {
    this.#maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#sizeOf = options.sizeOf;
  }

  /** Total size of the entries by `sizeOf` (0 without one). */
  get bytes(): number {
    return this.#bytes;
  }

  /** The value under `key`, refreshed as most recently used. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** Stores `value`, evicting the least recently used entry past the capacity. */
  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    const size = this.#sizeOf?.(value) ?? 0;
    if (size > this.#maxBytes) return; // Larger than the whole budget: never cached.
    this.delete(key);
    this.#entries.set(key, value);
    this.#bytes += size;
    while (this.#entries.size > this.capacity || this.#bytes > this.#maxBytes) {
      this.delete(this.#entries.keys().next().value as K);
    }
  }

  /** Removes `key`; true when it was there. */
  delete(key: K): boolean {
    if (!this.#entries.has(key)) return false;
    if (this.#sizeOf) this.#bytes -= this.#sizeOf(this.#entries.get(key)!);
    return this.#entries.delete(key);
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entries, least recently used first, without refreshing them. */
  entries(): IterableIterator<[K, V]> {
    return [...this.#entries].values();
  }
}
