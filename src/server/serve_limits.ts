/**
 * The process-wide budget of request-body bytes in flight. (Connection limits and the one request
 * deadline, which also bounds how long a body may take to arrive, live in the listener,
 * `http_listener.ts`.)
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";

/** Default {@linkcode InFlightBudget} size: 64 MiB of request bodies at once. */
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;

/**
 * A budget of request-body bytes being received or handled at once, shared by every endpoint
 * of the process: 300 concurrent 1 MiB routing requests or 20 concurrent 30 MiB events cannot
 * hold more than the budget in memory; past it a request is answered at once, body unread.
 * A body trickled in cannot hold its share for long: the listener cuts its request at the
 * deadline, the handler's read fails and the reservation is released.
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

  constructor(readonly maxBytes: number = DEFAULT_MAX_IN_FLIGHT_BYTES) {}

  /** Takes `bytes` from the budget; false (and nothing taken) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.maxBytes) return false;
    this.#used += bytes;
    return true;
  }

  /** Gives back what {@linkcode reserve} took. */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
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
      try {
        await next();
      } finally {
        this.release(bytes);
      }
    };
  }
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
