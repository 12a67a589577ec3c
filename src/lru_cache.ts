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
 * import { LruCache } from "./lru_cache.ts";
 * const cache = new LruCache<string, number>(2);
 * cache.set("a", 1); cache.set("b", 2); cache.get("a"); cache.set("c", 3);
 * console.assert(cache.get("b") === undefined && cache.get("a") === 1);
 * ```
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  constructor(readonly capacity: number) {}

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
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value as K);
    }
  }

  /** Removes `key`; true when it was there. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
