/**
 * The cold-parse pool: a few workers that parse templates not yet in the CST cache, so a
 * 15 ms parse never holds up the requests behind it on the event loop. A request waits at most
 * the routing budget for its parse; past it the request goes on with token features only
 * (`over-budget` → `parse-fallback`), and the parse, once done, still warms the cache for the
 * template's next query. Concurrent requests for one template share one parse.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { ColdParse } from "./featurizer.ts";
import type { CstResult } from "./cst_features.ts";
import { type CstCache, templateCstCache } from "./cst_cache.ts";

/** Options of {@linkcode createCstPool}. */
/** The worker's entry module. */
export const CST_WORKER_URL: URL = new URL("./cst_worker.ts", import.meta.url);

/**
 * What the worker must be allowed to read: a worker loads its module graph at run time, under the
 * process's permissions, so the sources (`src/`) and the parser's package. The served permissions
 * (`src/serve_permissions.ts`) grant exactly these.
 */
export function cstWorkerReadPaths(): string[] {
  const parserEntry = fileURLToPath(import.meta.resolve("sql-parser-cst"));
  const packageRoot = parserEntry.slice(0, parserEntry.lastIndexOf("/sql-parser-cst/") + 15);
  return [fileURLToPath(new URL("../", CST_WORKER_URL)), packageRoot];
}

export interface CstPoolOptions {
  /** Worker threads; default 1 (the service scales by processes, one per core). */
  readonly size?: number;
  /** Longest a request waits for its parse, in milliseconds; default 50 (the design's budget). */
  readonly budgetMs?: number;
  /**
   * Parses waiting for a worker beyond which new cold templates are not queued (they answer
   * `over-budget` at once): a burst of new templates must not build a queue no request waits
   * for. Default 64.
   */
  readonly maxQueued?: number;
  /** Where results go; default the process's shared cache. */
  readonly cache?: CstCache;
  /**
   * Milliseconds without a cold template after which the workers exit (a worker is a second V8
   * isolate with the parser, ~25 MB resident); the next cold template starts one again, and
   * (a start takes longer than the budget) answers `over-budget` while its parse warms the
   * cache. Default 60,000; 0 keeps them for good.
   */
  readonly idleMs?: number;
}

/** A running pool. */
export interface CstPool {
  /** The featurizer's cold parse. */
  readonly parse: ColdParse;
  /** Parses queued or running. */
  readonly pending: () => number;
  /** Worker threads running now (0 after an idle period). */
  readonly workers: () => number;
  /**
   * Resolves once every worker has loaded the parser and parsed once (a cold worker takes
   * longer than the budget): the service awaits it before listening.
   */
  readonly ready: Promise<void>;
  /** Stops the workers; pending parses resolve `undefined`. */
  close(): void;
}

interface Job {
  readonly template: string;
  readonly done: (result: CstResult | undefined) => void;
  /** When it was queued (`performance.now()`). */
  readonly queuedAt: number;
}

/**
 * Starts the workers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCstPool } from "./cst_pool.ts";
 * import { CstCache } from "./cst_cache.ts";
 * const pool = createCstPool({ cache: new CstCache() });
 * await pool.ready;
 * const result = await pool.parse("select a from t");
 * assert.equal(result?.outcome, "parsed");
 * pool.close();
 * ```
 */
export function createCstPool(options: CstPoolOptions = {}): CstPool {
  const size = Math.max(1, options.size ?? 1);
  const budgetMs = options.budgetMs ?? 50;
  const maxQueued = options.maxQueued ?? 64;
  const idleMs = options.idleMs ?? 60_000;
  const cache = options.cache ?? templateCstCache;
  const queue: Job[] = [];
  const running = new Map<Worker, Job>();
  const inFlight = new Map<string, Promise<CstResult | undefined>>();
  const idle: Worker[] = [];
  let workers: Worker[] = [];
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  function start(): Worker {
    const worker = new Worker(CST_WORKER_URL, { type: "module" });
    const finish = (result: CstResult | undefined) => {
      const job = running.get(worker);
      running.delete(worker);
      job?.done(result);
      idle.push(worker);
      dispatch(true);
    };
    worker.onmessage = (event: MessageEvent<CstResult>) => finish(event.data);
    // `cstFeatures` never throws; should the worker still fail, its job answers `undefined`
    // (token features) and the worker takes the next one.
    worker.onerror = (event) => {
      event.preventDefault();
      finish(undefined);
    };
    workers.push(worker);
    return worker;
  }

  /** Stops every worker once none has had work for `idleMs`; they start again on demand. */
  function stopWhenIdle(): void {
    if (idleMs <= 0 || closed) return;
    clearTimeout(idleTimer);
    idleTimer = undefined;
    if (queue.length > 0 || running.size > 0 || workers.length === 0) return;
    const timer = setTimeout(() => {
      idleTimer = undefined;
      if (queue.length > 0 || running.size > 0) return;
      for (const worker of workers) worker.terminate();
      workers = [];
      idle.length = 0;
    }, idleMs);
    // An idle pool's timer must not keep a process alive that has nothing else to do.
    Deno.unrefTimer(timer);
    idleTimer = timer;
  }

  /**
   * Hands queued parses to idle workers, newest first. When a worker frees up, parses queued
   * longer than the budget are dropped first: their requests have answered on token features
   * already, and parsed now they would take the CPU the requests still waiting need (under a
   * burst of new templates, first-in-first-out parsing turned most answers into late ones).
   * A dropped template is queued again by its next request.
   */
  function dispatch(dropStale = false): void {
    clearTimeout(idleTimer);
    if (dropStale) {
      const now = performance.now();
      while (queue.length > 0 && now - queue[0].queuedAt > budgetMs) queue.shift()!.done(undefined);
    }
    while (queue.length > 0) {
      if (idle.length === 0 && workers.length < size) idle.push(start());
      if (idle.length === 0) break;
      const job = queue.pop()!;
      const worker = idle.pop()!;
      running.set(worker, job);
      // A worker just started takes the message once its module has loaded.
      worker.postMessage({ template: job.template });
    }
    stopWhenIdle();
  }

  const parse: ColdParse = (template) => {
    if (closed) return Promise.resolve(undefined);
    let result = inFlight.get(template);
    if (result === undefined) {
      // Full: the oldest queued parse gives way (the least likely to finish in its budget).
      if (queue.length >= maxQueued) queue.shift()!.done(undefined);
      result = new Promise<CstResult | undefined>((resolve) => {
        queue.push({
          template,
          queuedAt: performance.now(),
          done: (cst) => {
            inFlight.delete(template);
            if (cst) cache.set(template, cst);
            resolve(cst);
          },
        });
      });
      inFlight.set(template, result);
      dispatch();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overBudget = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), budgetMs);
    });
    return Promise.race([result, overBudget]).finally(() => clearTimeout(timer));
  };

  // Started at once, with one warm-up parse each (straight to each worker, not through the
  // shared queue): a service starts with every template cold.
  const ready = Promise.all(Array.from({ length: size }, () =>
    new Promise<void>((resolve) => {
      const worker = start();
      running.set(worker, { template: "", done: () => resolve(), queuedAt: 0 });
      worker.postMessage({ template: "select 0 from t where a in ( select 0 ) " });
    }))).then(() => undefined);

  return {
    parse,
    ready,
    pending: () => queue.length + running.size,
    workers: () => workers.length,
    close() {
      closed = true;
      clearTimeout(idleTimer);
      for (const worker of workers) worker.terminate();
      for (const job of [...queue, ...running.values()]) job.done(undefined);
      queue.length = 0;
      running.clear();
    },
  };
}
