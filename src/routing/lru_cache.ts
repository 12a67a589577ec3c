/**
 * A small bounded LRU map, for caches that must never grow with traffic.
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

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    if (this.capacity <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value as K);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
