/**
 * A circuit breaker: after repeated failures of a dependency, stop calling it for a while, then
 * let one probe through to learn whether it is back.
 *
 * @module
 */

/**
 * The breaker's state: `closed` lets calls through, `open` refuses them, `half-open` lets a
 * single probe through.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CircuitState } from "./circuit_breaker.ts";
 * const state: CircuitState = "closed";
 * assert(state === "closed");
 * ```
 */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * Options of {@linkcode CircuitBreaker}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CircuitBreakerOptions } from "./circuit_breaker.ts";
 * const options: CircuitBreakerOptions = { failureThreshold: 3, openMs: 1_000 };
 * assert(options.openMs === 1_000);
 * ```
 */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before a probe is allowed. */
  readonly openMs?: number;
  /** Clock in milliseconds, injectable for tests. */
  readonly now?: () => number;
  /** Called on every state change, e.g. to log "store degraded" once rather than per call. */
  readonly onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/** Default options: open after 5 consecutive failures, probe again after 1 s. */
const DEFAULT_CIRCUIT_BREAKER_OPTIONS = {
  failureThreshold: 5,
  openMs: 1_000,
} as const;

/**
 * Counts consecutive failures and short-circuits calls while the dependency is known to be down,
 * so a dead Redis costs the request path nothing instead of one timeout per call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CircuitBreaker } from "./circuit_breaker.ts";
 * let now = 0;
 * const breaker = new CircuitBreaker({ failureThreshold: 2, openMs: 100, now: () => now });
 * breaker.failure();
 * breaker.failure();
 * assert.equal(breaker.state, "open");
 * assert.equal(breaker.tryAcquire(), false);
 * now = 100;
 * assert.equal(breaker.tryAcquire(), true);
 * assert.equal(breaker.state as string, "half-open");
 * breaker.success();
 * assert.equal(breaker.state as string, "closed");
 * ```
 */
export class CircuitBreaker {
  readonly #failureThreshold: number;
  readonly #openMs: number;
  readonly #now: () => number;
  readonly #onStateChange?: (state: CircuitState, previous: CircuitState) => void;
  #state: CircuitState = "closed";
  #failures = 0;
  #openedAt = 0;
  #probeInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#failureThreshold = options.failureThreshold ??
      DEFAULT_CIRCUIT_BREAKER_OPTIONS.failureThreshold;
    this.#openMs = options.openMs ?? DEFAULT_CIRCUIT_BREAKER_OPTIONS.openMs;
    this.#now = options.now ?? Date.now;
    this.#onStateChange = options.onStateChange;
  }

  /** The current state; an open circuit whose time is up reports `half-open`. */
  get state(): CircuitState {
    if (this.#state === "open" && this.#now() - this.#openedAt >= this.#openMs) return "half-open";
    return this.#state;
  }

  /**
   * Whether a call may go through now. In half-open state only one probe is in flight at a time:
   * the others are refused until it reports, so a recovering dependency is not stampeded.
   */
  tryAcquire(): boolean {
    if (this.#state === "closed") return true;
    if (this.#state === "open") {
      if (this.#now() - this.#openedAt < this.#openMs) return false;
      this.#transition("half-open");
    }
    if (this.#probeInFlight) return false;
    this.#probeInFlight = true;
    return true;
  }

  /** Reports a successful call: closes the circuit. */
  success(): void {
    this.#failures = 0;
    this.#probeInFlight = false;
    if (this.#state !== "closed") this.#transition("closed");
  }

  /** Reports a failed call: a failed probe, or too many failures in a row, opens the circuit. */
  failure(): void {
    this.#failures++;
    const wasProbe = this.#probeInFlight;
    this.#probeInFlight = false;
    if (this.#state === "half-open" || wasProbe || this.#failures >= this.#failureThreshold) {
      this.#openedAt = this.#now();
      if (this.#state !== "open") this.#transition("open");
    }
  }

  #transition(next: CircuitState): void {
    const previous = this.#state;
    this.#state = next;
    this.#onStateChange?.(next, previous);
  }
}
