/**
 * The shared store for several router replicas: Redis through `ioredis`, guarded so that a slow
 * or dead Redis never slows or fails a routing decision.
 *
 * @module
 */

// The named export: under Deno the default export of this CommonJS package types as a namespace.
import { Redis } from "ioredis";
import { CircuitBreaker, type CircuitBreakerOptions } from "./circuit_breaker.ts";
import { MemoryStore } from "./memory_store.ts";
import {
  DEFAULT_HISTORY_EPOCH_MS,
  historyEpoch,
  historyFoldBefore,
  historyView,
  stampHistoryFields,
} from "../features/history.ts";
import {
  type DecisionRecord,
  DEFAULT_TTLS,
  type Store,
  type StoredSubmission,
  type StoreHealth,
  type StoreTtls,
} from "./store.ts";

/**
 * One structured log line. The store never puts a key or a value in it: keys hold query ids and
 * values hold SQL.
 *
 * @example
 * ```ts
 * import type { StoreLogger } from "./redis_store.ts";
 * const log: StoreLogger = (line) => console.log(JSON.stringify(line));
 * log({ level: "warn", msg: "store degraded", backend: "redis" });
 * ```
 */
export type StoreLogger = (line: Record<string, unknown>) => void;

/**
 * Options of {@linkcode RedisStore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RedisStoreOptions } from "./redis_store.ts";
 * const options: RedisStoreOptions = { url: "redis://127.0.0.1:6379/0", callTimeoutMs: 30 };
 * assert(options.callTimeoutMs === 30);
 * ```
 */
export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. */
  readonly url: string;
  /** TTLs; defaults {@linkcode DEFAULT_TTLS}. */
  readonly ttls?: Partial<StoreTtls>;
  /**
   * Budget of one store call on the request path. Redis answers in well under a millisecond on a
   * healthy network, so 30 ms only ever expires when something is wrong.
   */
  readonly callTimeoutMs?: number;
  /** Budget of establishing the TCP (and TLS) connection. */
  readonly connectTimeoutMs?: number;
  /**
   * PEM CA bundle that verifies a `rediss://` server (a private CA); default the system roots.
   * Ignored for `redis://`.
   */
  readonly tlsCa?: string;
  /** Prefix of every key, so that several deployments can share one Redis. */
  readonly keyPrefix?: string;
  /** Circuit breaker tuning; see {@linkcode CircuitBreaker}. */
  readonly breaker?: Omit<CircuitBreakerOptions, "onStateChange">;
  /**
   * Entries of each kind also kept in this process (see {@linkcode RedisStore}); 0 disables the
   * local copy.
   */
  readonly localMaxEntries?: number;
  /**
   * How often the local copy learns every template mark in Redis (ms; 0 disables). Marks then
   * survive on each replica while Redis is dead or frozen, and are written back to a Redis that
   * restarted empty. Default 30 s.
   */
  readonly templateSyncMs?: number;
  /**
   * Length of a history epoch in ms (see `historyView` in `src/features/history.ts`): history
   * increments are stamped with the writer's epoch, a replica reads every key once per epoch
   * and keeps what it read for the rest of it, so decisions need no round trip for history and
   * every replica in one epoch reads the same counts. 0: no epochs (every read goes to Redis and
   * sees the counts as they stand). Default {@linkcode DEFAULT_HISTORY_EPOCH_MS}.
   */
  readonly historyEpochMs?: number;
  /** Bound of this replica's copy of the current epoch's history records, in bytes (4 MiB). */
  readonly historyCacheBytes?: number;
  /**
   * How long this replica keeps Redis's answer "this template is not marked" (ms; 0, the
   * default: every look-up without a local mark asks Redis). A mark another replica writes is
   * then seen here within this time; this replica's own marks and the synced ones at once.
   */
  readonly templateMissCacheMs?: number;
  /** Clock in milliseconds, injectable for tests. */
  readonly now?: () => number;
  /** Where "store degraded"/"store recovered" lines go; defaults to JSON on stderr. */
  readonly log?: StoreLogger;
}

/** Default per-call budget in milliseconds. */
export const DEFAULT_CALL_TIMEOUT_MS = 30;
/** Default connect budget in milliseconds. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 500;
/** Default key prefix. */
export const DEFAULT_KEY_PREFIX = "tsr:";

const DEFAULT_LOCAL_MAX_ENTRIES = 10_000;
const DEFAULT_TEMPLATE_SYNC_MS = 30_000;
// A sync is background work: it gets a budget of its own, never the request path's 30 ms.
const SYNC_TIMEOUT_MS = 2_000;
// Reconnect quickly after a Redis restart but without spinning: 50 ms, 100 ms, … capped at 0.5 s.
const MAX_RECONNECT_DELAY_MS = 500;

const DEFAULT_HISTORY_CACHE_BYTES = 4 * 2 ** 20;

/** Approximate memory of one cached history record: the entry, its key and its counters. */
const historyEntryBytes = (key: string, record: Readonly<Record<string, number>> | null) =>
  96 + 2 * key.length + (record ? 64 * Object.keys(record).length : 0);

/**
 * Adds stamped increments to a history hash (KEYS[1]) atomically, first folding stamps older
 * than ARGV[1] into the plain counts (the rule's cut-off comes from `historyFoldBefore`), then
 * renews its TTL (ARGV[2] ms); ARGV[3..] are field, amount pairs.
 */
const ADD_HISTORY_SCRIPT = `
local all = redis.call('HGETALL', KEYS[1])
local before = tonumber(ARGV[1])
for i = 1, #all, 2 do
  local dot = string.find(all[i], '.', 1, true)
  if dot then
    local stamp = tonumber(string.sub(all[i], 1, dot - 1))
    if stamp and stamp < before then
      redis.call('HINCRBY', KEYS[1], string.sub(all[i], dot + 1), all[i + 1])
      redis.call('HDEL', KEYS[1], all[i])
    end
  end
end
for i = 3, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** What an attempt yields when Redis did not answer (down, slow, circuit open, closed). */
const UNREACHED: unique symbol = Symbol("unreached");

const defaultLog: StoreLogger = (line) => console.warn(JSON.stringify(line));

/** Rejects when `promise` does not settle within `ms`; otherwise settles as it does. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`store call exceeded ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Budgets of the calls in flight, kept by one interval timer that runs only while a call is in
 * flight (a timer per call was a measurable share of a routing request's CPU). A call past its
 * budget is rejected within one sweep period of it.
 */
class Deadlines {
  readonly #pending = new Set<{ readonly at: number; readonly fail: () => void }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly sweepMs: number) {}

  /** Settles as `promise` does, or rejects once `ms` have passed. */
  race<T>(promise: Promise<T>, ms: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = {
        at: performance.now() + ms,
        fail: () => reject(new Error(`store call exceeded ${ms} ms`)),
      };
      this.#pending.add(entry);
      this.#timer ??= this.#start();
      promise.then(
        (value) => {
          this.#pending.delete(entry);
          resolve(value);
        },
        (error) => {
          this.#pending.delete(entry);
          reject(error);
        },
      );
    });
  }

  #start(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => {
      const now = performance.now();
      for (const entry of this.#pending) {
        if (entry.at > now) continue;
        this.#pending.delete(entry);
        entry.fail();
      }
      if (this.#pending.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }, this.sweepMs);
    // Upkeep must not keep a process (or a test) alive.
    if (typeof timer === "number") Deno.unrefTimer(timer);
    return timer;
  }
}

/** Reads a JSON value written by this store; `undefined` for anything unexpected. */
function parseJson<T>(text: string | null, isValid: (value: unknown) => boolean): T | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isValid(value) ? value as T : undefined;
  } catch {
    return undefined;
  }
}

const isDecision = (value: unknown): boolean =>
  typeof value === "object" && value !== null &&
  typeof (value as DecisionRecord).queryId === "string" &&
  ((value as DecisionRecord).decision === "light" ||
    (value as DecisionRecord).decision === "heavy");

const isSubmission = (value: unknown): boolean =>
  typeof value === "object" && value !== null &&
  typeof (value as StoredSubmission).sqlText === "string" &&
  typeof (value as StoredSubmission).headers === "object";

/**
 * A {@linkcode Store} in Redis, shared by all router replicas pointing at it.
 *
 * Why it can never hurt a routing decision:
 * - `ioredis` runs with its offline queue disabled and no per-request retries, so while the
 *   connection is down a command fails at once instead of waiting for a reconnect;
 * - every call has a budget (`callTimeoutMs`) after which it answers "unknown";
 * - a {@linkcode CircuitBreaker} stops calling a Redis that keeps timing out (a hung server keeps
 *   its connection open), letting one probe through now and then;
 * - entries written by this replica are also kept in a bounded local memory store that reads
 *   consult first: the replica still knows its own heavy templates and decisions while Redis is
 *   away, and the common template-cache hit costs no round trip.
 *
 * Keys: `<prefix>decision:<queryId>`, `<prefix>template:<fingerprint>`,
 * `<prefix>submission:<queryId>` (all with a TTL) and the hashes `<prefix>counters` and
 * `<prefix>settings`.
 *
 * @example
 * ```ts ignore
 * // Not run here: needs a live Redis (test/integration/redis_store_test.ts starts a real one).
 * import assert from "node:assert/strict";
 * import { RedisStore } from "./redis_store.ts";
 * const store = new RedisStore({ url: "redis://127.0.0.1:6379" });
 * await store.markTemplateHeavy("0123456789abcdef");
 * assert.equal(await store.isTemplateHeavy("0123456789abcdef"), true);
 * assert.equal(store.health().state, "ok");
 * await store.close();
 * ```
 */
export class RedisStore implements Store {
  readonly #redis: Redis;
  readonly #ttls: StoreTtls;
  readonly #callTimeoutMs: number;
  readonly #prefix: string;
  readonly #breaker: CircuitBreaker;
  readonly #local: MemoryStore | undefined;
  readonly #localMaxEntries: number;
  readonly #now: () => number;
  readonly #log: StoreLogger;
  #lastError: string | undefined;
  // "starting" until the first connection succeeds or fails, so startup logs one line at most.
  #reportedState: "starting" | "ok" | "degraded" = "starting";
  #since: number;
  #closed = false;
  readonly #fallbacks: Record<string, number> = {};
  readonly #historyEpochMs: number;
  readonly #historyCacheBytes: number;
  /** The current epoch's history records as this replica read them (`null`: no record). */
  #historyCache = new Map<string, Readonly<Record<string, number>> | null>();
  #historyCacheEpoch = Number.NEGATIVE_INFINITY;
  #historyCacheUsed = 0;
  readonly #deadlines: Deadlines;
  readonly #templateMissMs: number;
  /** Fingerprints Redis said were unmarked, until when that answer stands (insertion order). */
  readonly #templateMisses = new Map<string, number>();

  constructor(options: RedisStoreOptions) {
    this.#historyEpochMs = options.historyEpochMs ?? DEFAULT_HISTORY_EPOCH_MS;
    this.#templateMissMs = options.templateMissCacheMs ?? 0;
    this.#historyCacheBytes = options.historyCacheBytes ?? DEFAULT_HISTORY_CACHE_BYTES;
    this.#ttls = { ...DEFAULT_TTLS, ...options.ttls };
    this.#callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    // Sweeping at a sixth of the budget keeps a late answer's wait within ~1.2× the budget.
    this.#deadlines = new Deadlines(Math.max(1, Math.ceil(this.#callTimeoutMs / 6)));
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? defaultLog;
    this.#since = this.#now();
    const localMaxEntries = options.localMaxEntries ?? DEFAULT_LOCAL_MAX_ENTRIES;
    this.#localMaxEntries = localMaxEntries;
    this.#local = localMaxEntries > 0
      ? new MemoryStore({ maxEntries: localMaxEntries, ttls: this.#ttls, now: this.#now })
      : undefined;
    this.#breaker = new CircuitBreaker({
      ...options.breaker,
      now: this.#now,
      onStateChange: () => this.#reportHealth(),
    });
    this.#redis = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // No `commandTimeout`: ioredis would arm a timer per command; the call budget is kept by
      // one sweep for every call in flight (#deadlines). Commands issued in the same turn of the
      // event loop (concurrent decisions' reads and writes) go out in one write.
      enableAutoPipelining: true,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times - 1, 5), MAX_RECONNECT_DELAY_MS),
      // Never hold a command waiting for the server to finish loading its dataset.
      enableReadyCheck: true,
      // `rediss://` alone turns TLS on with the system roots; a private CA replaces them.
      ...(options.tlsCa && options.url.startsWith("rediss://")
        ? { tls: { ca: options.tlsCa } }
        : {}),
    });
    this.#redis.on("error", (error: Error) => {
      this.#lastError = error.message;
      this.#reportHealth();
    });
    for (const event of ["ready", "close", "reconnecting", "end"]) {
      this.#redis.on(event, () => this.#reportHealth());
    }
    const syncMs = options.templateSyncMs ?? DEFAULT_TEMPLATE_SYNC_MS;
    if (this.#local && syncMs > 0) {
      let connectedBefore = false;
      this.#redis.on("ready", () => {
        // Back after an outage: Redis may have restarted without persistence and forgotten
        // every mark; this replica's copy writes them back (NX: never shortens a newer one).
        if (connectedBefore) this.#republishTemplates();
        connectedBefore = true;
        this.#syncTemplates();
      });
      const timer = setInterval(() => this.#syncTemplates(), syncMs);
      // Background upkeep must not keep a process (or a test) alive.
      if (typeof timer === "number") Deno.unrefTimer(timer);
      else (timer as { unref?: () => void }).unref?.();
      this.#syncTimer = timer;
    }
  }

  #syncTimer: ReturnType<typeof setInterval> | undefined;

  /** Copies every template mark in Redis, with its remaining TTL, into the local copy. */
  #syncTemplates(): void {
    const local = this.#local;
    if (!local || this.#closed || this.#redis.status !== "ready") return;
    const pattern = `${this.#key("template")}:*`;
    const start = this.#key("template").length + 1;
    const limit = this.#localMaxEntries;
    const work = (async () => {
      let cursor = "0";
      let seen = 0;
      do {
        const [next, keys] = await this.#redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = this.#redis.pipeline();
        for (const key of keys) pipeline.pttl(key);
        const ttls = (await pipeline.exec()) ?? [];
        keys.forEach((key, i) => {
          const ttl = Number(ttls[i]?.[1]);
          if (ttl > 0) local.markTemplateHeavy(key.slice(start), ttl);
          else if (ttl === -1) local.markTemplateHeavy(key.slice(start));
        });
        seen += keys.length;
      } while (cursor !== "0" && seen < limit);
    })();
    withTimeout(work, SYNC_TIMEOUT_MS).catch(() => {/* the next round tries again */});
  }

  /** Writes this replica's live marks back to Redis with their remaining TTLs. */
  #republishTemplates(): void {
    const marks = this.#local?.templateMarks() ?? [];
    if (marks.length === 0 || this.#closed) return;
    const pipeline = this.#redis.pipeline();
    for (const [fingerprint, remainingMs] of marks) {
      pipeline.set(this.#key("template", fingerprint), "1", "PX", remainingMs, "NX");
    }
    withTimeout(pipeline.exec(), SYNC_TIMEOUT_MS).catch(
      () => {/* retried on the next reconnect */},
    );
  }

  /** Resolves when the first connection is ready, or after `timeoutMs` (for startup and tests). */
  async ready(timeoutMs = 2_000): Promise<boolean> {
    if (this.#redis.status === "ready") return true;
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#redis.off("ready", onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#redis.once("ready", onReady);
    });
  }

  async putDecision(queryId: string, record: DecisionRecord): Promise<void> {
    await this.#local?.putDecision(queryId, record);
    await this.#call(
      "putDecision",
      undefined,
      (redis) =>
        redis.set(
          this.#key("decision", queryId),
          JSON.stringify(record),
          "PX",
          this.#ttls.decisionMs,
        )
          .then(() => undefined),
    );
  }

  async getDecision(queryId: string): Promise<DecisionRecord | undefined> {
    const local = await this.#local?.getDecision(queryId);
    if (local !== undefined) return local;
    return await this.#call(
      "getDecision",
      undefined,
      (redis) =>
        redis.get(this.#key("decision", queryId)).then((text) =>
          parseJson<DecisionRecord>(text, isDecision)
        ),
    );
  }

  async takeDecision(queryId: string): Promise<DecisionRecord | undefined> {
    // Redis decides which replica's event joins the decision (see #take).
    return await this.#take(
      "takeDecision",
      "decision",
      queryId,
      isDecision,
      await this.#local?.takeDecision(queryId),
    );
  }

  async markTemplateHeavy(fingerprint: string): Promise<void> {
    this.#templateMisses.delete(fingerprint);
    await this.#local?.markTemplateHeavy(fingerprint);
    await this.#call(
      "markTemplateHeavy",
      undefined,
      (redis) =>
        redis.set(this.#key("template", fingerprint), "1", "PX", this.#ttls.templateMs)
          .then(() => undefined),
    );
  }

  async isTemplateHeavy(fingerprint: string): Promise<boolean> {
    if (await this.#local?.isTemplateHeavy(fingerprint)) return true;
    const now = this.#now();
    if ((this.#templateMisses.get(fingerprint) ?? 0) > now) return false;
    const answer = await this.#attempt(
      "isTemplateHeavy",
      (redis) => redis.pttl(this.#key("template", fingerprint)),
    );
    const ttl = answer === UNREACHED ? -2 : answer;
    if (answer === -2 && this.#templateMissMs > 0) {
      // Bounded: past the bound the oldest answers go first (fingerprints are 16 characters).
      if (this.#templateMisses.size >= DEFAULT_LOCAL_MAX_ENTRIES) {
        this.#templateMisses.delete(this.#templateMisses.keys().next().value!);
      }
      this.#templateMisses.delete(fingerprint);
      this.#templateMisses.set(fingerprint, now + this.#templateMissMs);
    }
    // A mark another replica wrote is kept here too, with its own deadline, so that this
    // replica still knows it while Redis is away (-1: no expiry, -2: no such key).
    if (ttl > 0) await this.#local?.markTemplateHeavy(fingerprint, ttl);
    else if (ttl === -1) await this.#local?.markTemplateHeavy(fingerprint);
    return ttl > 0 || ttl === -1;
  }

  async putSubmission(queryId: string, value: StoredSubmission): Promise<void> {
    await this.#local?.putSubmission(queryId, value);
    await this.#call("putSubmission", undefined, (redis) =>
      redis.set(
        this.#key("submission", queryId),
        JSON.stringify(value),
        "PX",
        this.#ttls.submissionMs,
      ).then(() => undefined));
  }

  async takeSubmission(queryId: string): Promise<StoredSubmission | undefined> {
    return await this.#take(
      "takeSubmission",
      "submission",
      queryId,
      isSubmission,
      await this.#local?.takeSubmission(queryId),
    );
  }

  /**
   * Takes (returns and removes) an entry. When Redis answers, its GETDEL (atomic, Redis 6.2+) is
   * the one arbiter between replicas, even against this replica's own copy (`local`, already
   * taken): of two replicas racing for a submission exactly one wins, which is what keeps a query
   * from being retried twice, and a decision joins one event only. Only while Redis is away does
   * the local copy stand in, so that this replica can still use what it saw.
   */
  async #take<T>(
    op: string,
    kind: string,
    id: string,
    isT: (value: unknown) => boolean,
    local: T | undefined,
  ): Promise<T | undefined> {
    const remote = await this.#attempt(
      op,
      (redis) => redis.getdel(this.#key(kind, id)).then((text) => parseJson<T>(text, isT)),
    );
    return remote === UNREACHED ? local : remote;
  }

  async addHistory(
    increments: Readonly<Record<string, Readonly<Record<string, number>>>>,
  ): Promise<void> {
    const epoch = this.historyEpoch();
    await this.#call("addHistory", undefined, async (redis) => {
      // One pipeline: HINCRBY adds atomically, so replicas adding at once lose nothing.
      const pipeline = redis.pipeline();
      for (const [key, fields] of Object.entries(increments)) {
        const stored = this.#key("history", key);
        if (epoch === undefined) {
          for (const [field, by] of Object.entries(fields)) pipeline.hincrby(stored, field, by);
          pipeline.pexpire(stored, this.#ttls.historyMs);
        } else {
          const args = Object.entries(stampHistoryFields(fields, epoch)).flat();
          pipeline.eval(
            ADD_HISTORY_SCRIPT,
            1,
            stored,
            historyFoldBefore(epoch),
            this.#ttls.historyMs,
            ...args,
          );
        }
      }
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error);
      if (failed) throw failed[0];
    });
  }

  /** The current history epoch; `undefined` when epochs are off (`historyEpochMs: 0`). */
  historyEpoch(): number | undefined {
    return this.#historyEpochMs > 0 ? historyEpoch(this.#now(), this.#historyEpochMs) : undefined;
  }

  /**
   * History records as of `epoch` (default the current one). In the current epoch a key is read
   * from Redis once and then from this replica's copy: the view of a record in an epoch does not
   * change within it. An unanswered read is not kept: the next decision asks Redis again.
   */
  async readHistory(
    keys: readonly string[],
    epoch: number | undefined = this.historyEpoch(),
  ): Promise<(Readonly<Record<string, number>> | undefined)[]> {
    if (epoch === undefined || this.#historyEpochMs <= 0) {
      return (await this.#readHistoryRecords(keys)) ?? keys.map(() => undefined);
    }
    if (epoch > this.#historyCacheEpoch) {
      this.#historyCache = new Map();
      this.#historyCacheEpoch = epoch;
      this.#historyCacheUsed = 0;
    }
    const cache = epoch === this.#historyCacheEpoch ? this.#historyCache : undefined;
    const out: (Readonly<Record<string, number>> | undefined)[] = new Array(keys.length);
    const missing: number[] = [];
    keys.forEach((key, i) => {
      const cached = cache?.get(key);
      if (cached === undefined) missing.push(i);
      else out[i] = cached ?? undefined;
    });
    if (missing.length === 0) return out;
    const records = await this.#readHistoryRecords(missing.map((i) => keys[i]));
    missing.forEach((i, j) => {
      const view = records ? historyView(records[j], epoch) : undefined;
      out[i] = view;
      if (!records || cache !== this.#historyCache) return;
      const bytes = historyEntryBytes(keys[i], view ?? null);
      // Full: the rest of this epoch's new keys are read from Redis each time.
      if (this.#historyCacheUsed + bytes > this.#historyCacheBytes) return;
      if (!cache.has(keys[i])) this.#historyCacheUsed += bytes;
      cache.set(keys[i], view ?? null);
    });
    return out;
  }

  /** The stored history hashes of `keys`; `undefined` when Redis did not answer. */
  async #readHistoryRecords(
    keys: readonly string[],
  ): Promise<(Record<string, number> | undefined)[] | undefined> {
    const records = await this.#attempt("readHistory", async (redis) => {
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.hgetall(this.#key("history", key));
      const results = (await pipeline.exec()) ?? [];
      return keys.map((_, i) => {
        const [error, hash] = results[i] ?? [];
        if (error || !hash || typeof hash !== "object") return undefined;
        const entries = Object.entries(hash as Record<string, string>);
        if (entries.length === 0) return undefined;
        return Object.fromEntries(entries.map(([field, value]) => [field, Number(value)]));
      });
    });
    return records === UNREACHED ? undefined : records;
  }

  async incrementCounter(name: string, by = 1): Promise<void> {
    await this.#call("incrementCounter", undefined, (redis) => {
      const key = this.#key("counters");
      const done = Number.isInteger(by)
        ? redis.hincrby(key, name, by)
        : redis.hincrbyfloat(key, name, by);
      return done.then(() => undefined);
    });
  }

  async readCounters(): Promise<Record<string, number>> {
    return await this.#call(
      "readCounters",
      {},
      (redis) =>
        redis.hgetall(this.#key("counters")).then((hash) => {
          const out: Record<string, number> = {};
          for (const [name, value] of Object.entries(hash)) out[name] = Number(value);
          return out;
        }),
    );
  }

  async putSetting(name: string, value: string): Promise<void> {
    await this.#call(
      "putSetting",
      undefined,
      (redis) => redis.hset(this.#key("settings"), name, value).then(() => undefined),
    );
  }

  async getSetting(name: string): Promise<string | undefined> {
    // Never from the local copy: a setting changed by another replica must be seen here.
    return await this.#call(
      "getSetting",
      undefined,
      (redis) => redis.hget(this.#key("settings"), name).then((text) => text ?? undefined),
    );
  }

  health(): StoreHealth {
    return {
      backend: "redis",
      state: this.#currentState(),
      circuit: this.#breaker.state,
      lastError: this.#lastError,
      since: new Date(this.#since).toISOString(),
      fallbacks: { ...this.#fallbacks },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#syncTimer);
    await this.#local?.close();
    try {
      await withTimeout(this.#redis.quit(), 200);
    } catch {
      // A dead or hung server cannot acknowledge QUIT; drop the socket instead.
    }
    this.#redis.disconnect(false);
  }

  #key(kind: string, id = ""): string {
    return id === "" ? `${this.#prefix}${kind}` : `${this.#prefix}${kind}:${id}`;
  }

  #currentState(): "ok" | "degraded" {
    return this.#redis.status === "ready" && this.#breaker.state === "closed" ? "ok" : "degraded";
  }

  /** Runs one command within budget; any failure yields `fallback` and feeds the breaker. */
  async #call<T>(op: string, fallback: T, run: (redis: Redis) => Promise<T>): Promise<T> {
    const value = await this.#attempt(op, run);
    return value === UNREACHED ? fallback : value;
  }

  /** Runs one command within budget; {@linkcode UNREACHED} when Redis did not answer. */
  async #attempt<T>(op: string, run: (redis: Redis) => Promise<T>): Promise<T | typeof UNREACHED> {
    // Not connected: ioredis would reject at once anyway; answering here skips the allocation
    // and does not count as a breaker failure (the connection state already says "down").
    if (this.#closed || this.#redis.status !== "ready" || !this.#breaker.tryAcquire()) {
      this.#fallbacks[op] = (this.#fallbacks[op] ?? 0) + 1;
      return UNREACHED;
    }
    try {
      const value = await this.#deadlines.race(run(this.#redis), this.#callTimeoutMs);
      this.#breaker.success();
      return value;
    } catch (error) {
      this.#lastError = `${op}: ${error instanceof Error ? error.message : String(error)}`;
      this.#fallbacks[op] = (this.#fallbacks[op] ?? 0) + 1;
      this.#breaker.failure();
      return UNREACHED;
    }
  }

  /** Logs a line when the state flips, so an outage is one line, not one per call. */
  #reportHealth(): void {
    if (this.#closed) return;
    const state = this.#currentState();
    if (state === this.#reportedState) return;
    // Still connecting for the first time, and nothing has failed yet: not an outage.
    if (this.#reportedState === "starting" && state === "degraded" && !this.#lastError) return;
    const previous = this.#reportedState;
    this.#reportedState = state;
    this.#since = this.#now();
    this.#log({
      level: state === "ok" ? "info" : "warn",
      msg: state === "degraded"
        ? "store degraded"
        : previous === "starting"
        ? "store connected"
        : "store recovered",
      backend: "redis",
      circuit: this.#breaker.state,
      connection: this.#redis.status,
      ...(state === "degraded" && this.#lastError ? { error: this.#lastError } : {}),
    });
  }
}
