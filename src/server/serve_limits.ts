/**
 * Request-body limits that keep the router up under hostile load: a process-wide budget of
 * request-body bytes in flight and a deadline for each body. (Connection limits live in the
 * listener, `http_listener.ts`.)
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";

/** Default {@linkcode InFlightBudget} size: 64 MiB of request bodies at once. */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;

/** Default {@linkcode InFlightBudget.bodyTimeoutMs}: 10 s for a whole request body. */
export const DEFAULT_BODY_TIMEOUT_MS = 10_000;

/** A request body that did not arrive whole in time. */
export class BodyTimeoutError extends Error {
  override name = "BodyTimeoutError";
  constructor(ms: number) {
    super(`request body not received within ${ms} ms`);
  }
}

/**
 * A budget of request-body bytes being received or handled at once, shared by every endpoint
 * of the process: 300 concurrent 1 MiB routing requests or 20 concurrent 30 MiB events cannot
 * hold more than the budget in memory; past it a request is answered at once, body unread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InFlightBudget } from "./serve_limits.ts";
 * const budget = new InFlightBudget(100);
 * assert.equal(budget.reserve(60), true);
 * assert.equal(budget.reserve(60), false);
 * budget.release(60);
 * assert.equal(budget.reserve(60), true);
 * ```
 */
export class InFlightBudget {
  #used = 0;
  #refused = 0;
  readonly bodyTimeoutMs: number;
  /** Body reads under way: how to cancel each, and its deadline (ms, `performance.now()`). */
  readonly #reads = new Map<() => void, number>();
  #sweeper: ReturnType<typeof setInterval> | undefined;

  /**
   * `bodyTimeoutMs`: a body must arrive whole within this time, or its reading fails and its
   * bytes go back to the budget (a client trickling a body cannot hold the budget for long).
   */
  constructor(
    readonly maxBytes: number = DEFAULT_MAX_IN_FLIGHT_BYTES,
    options: { readonly bodyTimeoutMs?: number } = {},
  ) {
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  }

  /** Takes `bytes` from the budget; false (and nothing taken) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.maxBytes) {
      this.#refused++;
      return false;
    }
    this.#used += bytes;
    return true;
  }

  /** Gives back what {@linkcode reserve} took. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }

  /**
   * Watches a body read until `unwatch`; past its deadline it is cancelled. One sweep timer for
   * every read instead of a timer per request (a timer apiece cost more than the routing
   * request's whole body handling); a deadline is kept to within a quarter of the timeout.
   */
  #watch(cancel: () => void): () => void {
    this.#reads.set(cancel, performance.now() + this.bodyTimeoutMs);
    if (this.#sweeper === undefined) {
      const period = Math.max(5, Math.min(250, this.bodyTimeoutMs / 4));
      this.#sweeper = setInterval(() => this.#sweep(), period);
      // Watching reads must not keep an otherwise finished process alive.
      Deno.unrefTimer(this.#sweeper);
    }
    return () => this.#reads.delete(cancel);
  }

  #sweep(): void {
    if (this.#reads.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      return;
    }
    const now = performance.now();
    for (const [cancel, deadline] of this.#reads) {
      if (deadline <= now) {
        this.#reads.delete(cancel);
        cancel();
      }
    }
  }

  /** Bytes reserved now, and requests refused since start. */
  get stats(): { readonly usedBytes: number; readonly refused: number } {
    return { usedBytes: this.#used, refused: this.#refused };
  }

  /**
   * Middleware reserving a request's body size for as long as it is handled. The size is the
   * declared `Content-Length`, or `unknownLengthBytes` (the endpoint's own body limit) for a
   * chunked body; a request that does not fit is answered by `onBusy`, its body never read.
   */
  middleware(
    unknownLengthBytes: number,
    onBusy: (c: Context) => Response | Promise<Response>,
  ): MiddlewareHandler {
    return async (c, next) => {
      const declared = c.req.header("content-length");
      const length = declared === undefined ? Number.NaN : Number(declared);
      const bytes = Number.isSafeInteger(length) && length >= 0
        ? length
        : c.req.method === "GET" || c.req.method === "HEAD"
        ? 0
        : unknownLengthBytes;
      if (!this.reserve(bytes)) return await onBusy(c);
      const body = c.req.raw.body;
      let unwatch: (() => void) | undefined;
      if (body) {
        // The body is read here, against the deadline, and handed to the handler's
        // `c.req.text()` through Hono's body cache (every endpoint reads its body as text).
        // Past the deadline the read rejects: the handler's error answer (Large, 500 or 503 per
        // endpoint) goes out and the reservation is released below. No wrapping stream and no
        // second Request: both cost more than the rest of a routing request's HTTP handling.
        const reader = body.getReader();
        let timedOut = false;
        unwatch = this.#watch(() => {
          timedOut = true;
          reader.cancel().catch(() => {});
        });
        const text = readText(reader, () => timedOut, this.bodyTimeoutMs);
        text.then(unwatch, unwatch);
        // A handler that answers without reading (Envoy's cut body) leaves it unobserved.
        text.catch(() => {});
        // Hono keeps promises there (its type says values): `c.req.text()` returns this one.
        (c.req.bodyCache as { text?: Promise<string> }).text = text;
      }
      try {
        await next();
      } finally {
        unwatch?.();
        this.release(bytes);
      }
    };
  }
}

const utf8 = new TextDecoder();

/** Reads a body to its end as UTF-8 text (what `Request.text()` does), failing past a deadline. */
async function readText(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  timedOut: () => boolean,
  timeoutMs: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    // A cancelled read ends as if the body had: the deadline, not the body, ended it.
    if (timedOut()) throw new BodyTimeoutError(timeoutMs);
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  if (chunks.length === 1) return utf8.decode(chunks[0]);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return utf8.decode(bytes);
}

/**
 * {@linkcode InFlightBudget.middleware} of `budget`, or a pass-through without one (apps built
 * in tests without a budget).
 */
export function inFlightLimit(
  budget: InFlightBudget | undefined,
  unknownLengthBytes: number,
  onBusy: (c: Context) => Response | Promise<Response>,
): MiddlewareHandler {
  return budget ? budget.middleware(unknownLengthBytes, onBusy) : (_c, next) => next();
}
