/**
 * The embedded default store: per-process, bounded, with TTLs. Enough for one router replica;
 * several replicas need the Redis store to share the template cache and decisions.
 *
 * @module
 */

import { addHistoryFields } from "../features/history.ts";
import { TtlLru } from "./_ttl_lru.ts";
import {
  type DecisionRecord,
  DEFAULT_TTLS,
  type Store,
  type StoredSubmission,
  type StoreHealth,
  type StoreTtls,
} from "./store.ts";

/**
 * Options of {@linkcode MemoryStore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MemoryStoreOptions } from "./memory_store.ts";
 * const options: MemoryStoreOptions = { maxEntries: 1_000, now: () => 0 };
 * assert(options.maxEntries === 1_000);
 * ```
 */
export interface MemoryStoreOptions {
  /**
   * Cap on entries of each kind (decisions, templates, submissions). At 1 000 queries/s and a
   * 1 h TTL decisions would reach 3.6 M entries; past the cap the oldest go first, and their
   * completion events simply go unjoined.
   */
  readonly maxEntries?: number;
  /** Cap on the total size of stored submissions (they hold SQL), in bytes. */
  readonly maxSubmissionBytes?: number;
  /**
   * Cap on the total size of decision records, in bytes: their keys carry caller-chosen query
   * ids, and sampled records carry a feature vector.
   */
  readonly maxDecisionBytes?: number;
  /** Cap on the total size of history records (a template's or user's counts), in bytes. */
  readonly maxHistoryBytes?: number;
  /** TTLs; defaults {@linkcode DEFAULT_TTLS}. */
  readonly ttls?: Partial<StoreTtls>;
  /** Clock in milliseconds, injectable so tests can expire entries without waiting. */
  readonly now?: () => number;
}

/** Default cap on entries of each kind. */
export const DEFAULT_MAX_ENTRIES = 100_000;

/** Default {@linkcode MemoryStoreOptions.maxSubmissionBytes}: 64 MiB. */
export const DEFAULT_MAX_SUBMISSION_BYTES = 64 * 1024 * 1024;

/** Default {@linkcode MemoryStoreOptions.maxDecisionBytes}: 32 MiB (~60,000 typical records). */
export const DEFAULT_MAX_DECISION_BYTES = 32 * 1024 * 1024;

/** Default {@linkcode MemoryStoreOptions.maxHistoryBytes}: 16 MiB (~40,000 typical records). */
export const DEFAULT_MAX_HISTORY_BYTES = 16 * 1024 * 1024;

/** Approximate memory of a history record: the object, its key and its (few) counters. */
function historyBytes(record: Readonly<Record<string, number>>): number {
  return 200 + 48 * Object.keys(record).length;
}

/**
 * Approximate memory of a decision record: the object and its short fields, the query id twice
 * (key and field, UTF-16) and a sampled feature vector's entries.
 */
function decisionBytes(record: DecisionRecord): number {
  let bytes = 400 + 4 * record.queryId.length;
  if (record.features) bytes += 48 * Object.keys(record.features).length;
  return bytes;
}

/** Approximate memory of a stored submission: UTF-16 text of the SQL and the headers. */
function submissionBytes(submission: StoredSubmission): number {
  let bytes = 2 * submission.sqlText.length;
  for (const [name, value] of Object.entries(submission.headers)) {
    bytes += 2 * (name.length + value.length);
  }
  return bytes;
}

const SINCE = new Date().toISOString();

/**
 * A {@linkcode Store} held in this process's memory. Never degraded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory_store.ts";
 * let now = 0;
 * const store = new MemoryStore({ ttls: { templateMs: 1_000 }, now: () => now });
 * await store.markTemplateHeavy("0123456789abcdef");
 * now = 1_001;
 * assert(!(await store.isTemplateHeavy("0123456789abcdef")));
 * ```
 */
export class MemoryStore implements Store {
  readonly #ttls: StoreTtls;
  readonly #decisions: TtlLru<DecisionRecord>;
  readonly #templates: TtlLru<true>;
  readonly #submissions: TtlLru<StoredSubmission>;
  readonly #history: TtlLru<Record<string, number>>;
  readonly #counters = new Map<string, number>();
  readonly #settings = new Map<string, string>();

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const now = options.now ?? Date.now;
    this.#ttls = { ...DEFAULT_TTLS, ...options.ttls };
    this.#decisions = new TtlLru(maxEntries, now, {
      maxBytes: options.maxDecisionBytes ?? DEFAULT_MAX_DECISION_BYTES,
      sizeOf: decisionBytes,
    });
    this.#templates = new TtlLru(maxEntries, now);
    // One record per template and per user ever seen: bounded by bytes, the least recently
    // used (a template that stopped running) going first.
    this.#history = new TtlLru(maxEntries, now, {
      maxBytes: options.maxHistoryBytes ?? DEFAULT_MAX_HISTORY_BYTES,
      sizeOf: historyBytes,
    });
    // Submissions hold SQL (up to a megabyte each): bounded by bytes too, not only by count.
    this.#submissions = new TtlLru(maxEntries, now, {
      maxBytes: options.maxSubmissionBytes ?? DEFAULT_MAX_SUBMISSION_BYTES,
      sizeOf: submissionBytes,
    });
  }

  putDecision(queryId: string, record: DecisionRecord): Promise<void> {
    this.#decisions.set(queryId, record, this.#ttls.decisionMs);
    return Promise.resolve();
  }

  getDecision(queryId: string): Promise<DecisionRecord | undefined> {
    return Promise.resolve(this.#decisions.get(queryId));
  }

  takeDecision(queryId: string): Promise<DecisionRecord | undefined> {
    return Promise.resolve(this.#decisions.take(queryId));
  }

  /** Marks a template; `ttlMs` lets a mark learned elsewhere keep its own deadline. */
  markTemplateHeavy(fingerprint: string, ttlMs: number = this.#ttls.templateMs): Promise<void> {
    this.#templates.set(fingerprint, true, ttlMs);
    return Promise.resolve();
  }

  /** Live template marks and their remaining lifetime in ms (the Redis store's local copy). */
  templateMarks(): Array<[fingerprint: string, remainingMs: number]> {
    return [...this.#templates.live()].map(([fingerprint, , remainingMs]) => [
      fingerprint,
      remainingMs,
    ]);
  }

  isTemplateHeavy(fingerprint: string): Promise<boolean> {
    return Promise.resolve(this.#templates.get(fingerprint) === true);
  }

  putSubmission(queryId: string, value: StoredSubmission): Promise<void> {
    this.#submissions.set(queryId, value, this.#ttls.submissionMs);
    return Promise.resolve();
  }

  takeSubmission(queryId: string): Promise<StoredSubmission | undefined> {
    return Promise.resolve(this.#submissions.take(queryId));
  }

  addHistory(
    increments: Readonly<Record<string, Readonly<Record<string, number>>>>,
  ): Promise<void> {
    for (const [key, fields] of Object.entries(increments)) {
      const record = addHistoryFields({ ...this.#history.get(key) }, fields);
      this.#history.set(key, record, this.#ttls.historyMs);
    }
    return Promise.resolve();
  }

  readHistory(keys: readonly string[]): Promise<(Readonly<Record<string, number>> | undefined)[]> {
    return Promise.resolve(keys.map((key) => this.#history.get(key)));
  }

  incrementCounter(name: string, by = 1): Promise<void> {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + by);
    return Promise.resolve();
  }

  readCounters(): Promise<Record<string, number>> {
    return Promise.resolve(Object.fromEntries(this.#counters));
  }

  putSetting(name: string, value: string): Promise<void> {
    this.#settings.set(name, value);
    return Promise.resolve();
  }

  getSetting(name: string): Promise<string | undefined> {
    return Promise.resolve(this.#settings.get(name));
  }

  health(): StoreHealth {
    return { backend: "memory", state: "ok", circuit: "closed", since: SINCE };
  }

  close(): Promise<void> {
    this.#decisions.clear();
    this.#templates.clear();
    this.#submissions.clear();
    this.#history.clear();
    return Promise.resolve();
  }
}
