/**
 * The template CST cache: CST features by parse template (`parseTemplate`), bounded in bytes.
 * Dashboards resubmit one template with new literals; since the CST features are a pure
 * function of the parse template, a warm template costs no parse, and a decision is the same
 * bytes cached or not. The key is the parse template itself, not a hash of it: no collision
 * can ever hand one template another's features (the key's bytes are counted in the budget).
 *
 * @module
 */

import { LruCache } from "../lru_cache.ts";
import { CST_FEATURE_NAMES, type CstResult } from "./cst_features.ts";

/** Default byte budget: ~10,000 templates of the labeled log's typical size. */
export const DEFAULT_CST_CACHE_BYTES = 16 * 1024 * 1024;

/** Per-entry overhead of the map, the result object and its feature record, estimated. */
const ENTRY_OVERHEAD_BYTES = 160 + CST_FEATURE_NAMES.length * 24;

/** Estimated bytes of a string in V8: two per UTF-16 unit at worst, plus its header. */
const stringBytes = (s: string) => 16 + 2 * s.length;

/** Estimated bytes of one cache entry, key included (a result's size is fixed). */
function entryBytes(template: string): number {
  return ENTRY_OVERHEAD_BYTES + stringBytes(template);
}

/** A cached result with its estimated size (the cache's byte bound needs the key's size too). */
interface Entry {
  readonly result: CstResult;
  readonly bytes: number;
}

/** CST results by parse template. Timing-dependent outcomes are never stored. */
export class CstCache {
  #lru: LruCache<string, Entry>;

  /**
   * A cache holding at most `maxBytes` of estimated entry size.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { CstCache } from "./cst_cache.ts";
   * import { cstFeatures } from "./cst_features.ts";
   * const cache = new CstCache(1 << 20);
   * cache.set("select 0", cstFeatures("select 0"));
   * assert.equal(cache.get("select 0")?.outcome, "parsed");
   * ```
   */
  constructor(maxBytes: number = DEFAULT_CST_CACHE_BYTES) {
    this.#lru = CstCache.#create(maxBytes);
  }

  static #create(maxBytes: number): LruCache<string, Entry> {
    return new LruCache(Number.MAX_SAFE_INTEGER, { maxBytes, sizeOf: (entry) => entry.bytes });
  }

  /** The cached result for a parse template. */
  get(template: string): CstResult | undefined {
    return this.#lru.get(template)?.result;
  }

  /** Caches a result; `over-budget` says nothing about the template and is not kept. */
  set(template: string, result: CstResult): void {
    if (result.outcome === "over-budget") return;
    this.#lru.set(template, { result, bytes: entryBytes(template) });
  }

  /** Replaces the byte budget (emptying the cache). */
  resize(maxBytes: number): void {
    this.#lru = CstCache.#create(maxBytes);
  }

  /** Empties the cache. */
  clear(): void {
    this.#lru.clear();
  }

  /** Entries held. */
  get size(): number {
    return this.#lru.size;
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.#lru.bytes;
  }
}

/**
 * The process's cache, shared by every model version's featurizer: the CST features do not
 * depend on the model, so one parse serves them all.
 */
export const templateCstCache: CstCache = new CstCache();
