/**
 * Shadow route: a sampled share of the reads the model calls light is also submitted to Small
 * in the background, its result drained and discarded, to measure what Small would have done
 * with no user on it. Never a write, never a query inside a transaction or with a prepared
 * statement; bounded concurrency and rate.
 *
 * @module
 */

import type { RouteDecision, RouteInput } from "../routing/router.ts";
import { RESOURCE_ERROR_TYPE } from "../labels/query_event.ts";
import { TRINO_HEADERS } from "../server/trino_headers.ts";
import { inSample } from "./sampling.ts";

/**
 * Client tag every shadow copy carries, so that Small's completion event is recognised as a
 * copy (counted for Small's health, never in the model's confusion counts: the original query,
 * on Large, is).
 */
export const SHADOW_COPY_TAG = "trino-router-shadow-copy";

/** Headers whose presence means the query belongs to client-side state a copy cannot share. */
const STATEFUL_HEADERS = [
  "X-Trino-Transaction-Id",
  "X-Trino-Prepared-Statement",
] as const;

/** Why a query was not copied, or `copy`. */
export type ShadowEligibility =
  | "copy"
  | "not-light"
  | "not-read"
  | "not-model"
  | "no-trino-headers"
  | "stateful-session"
  | "not-sampled";

/**
 * Decides whether a query may be copied to Small. Only reads the model itself called light
 * (not a template-cache or fallback answer), only from an adapter that saw the client's Trino
 * headers (so a transaction or prepared statement is known to be absent), only the `sample`
 * share of queries (by a hash of the query, so a retry of the same query is sampled alike).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shadowEligibility } from "./shadow_route.ts";
 * const decision = { decision: "light", statementKind: "read", reason: "model" } as const;
 * const headers = new Headers({ "X-Trino-Transaction-Id": "9b1f" });
 * assert.equal(shadowEligibility(decision, { sqlText: "SELECT 1" }, headers, 1), "stateful-session");
 * ```
 */
export function shadowEligibility(
  decision: Pick<RouteDecision, "decision" | "statementKind" | "reason">,
  input: RouteInput,
  trinoHeaders: Headers | undefined,
  sample: number,
): ShadowEligibility {
  if (decision.decision !== "light") return "not-light";
  if (decision.statementKind !== "read") return "not-read";
  if (decision.reason !== "model" && decision.reason !== "parse-fallback") return "not-model";
  if (!trinoHeaders) return "no-trino-headers";
  for (const name of STATEFUL_HEADERS) {
    const value = trinoHeaders.get(name)?.trim();
    // The CLI sends `X-Trino-Transaction-Id: NONE` outside a transaction.
    if (value && value.toUpperCase() !== "NONE") return "stateful-session";
  }
  if (!inSample(`${input.queryId ?? ""}\0${input.sqlText}`, sample)) return "not-sampled";
  return "copy";
}

/** Outcome of one copy. */
export type ShadowOutcome =
  | "finished"
  | "resource-failure"
  | "failed"
  | "timeout"
  | "unreachable"
  | "rate-limited"
  | "concurrency-limited";

/** Options of {@linkcode ShadowRouter}. */
export interface ShadowRouterOptions {
  /** Base URL of the Small cluster's coordinator, e.g. `http://trino-small:8080`. */
  readonly smallUrl: string;
  /** Share (0–1) of eligible queries copied. */
  readonly sample: number;
  /** Copies started per second at most (token bucket, burst = one second's worth). */
  readonly maxPerSecond: number;
  /** Copies running at once at most. */
  readonly maxConcurrency: number;
  /** A copy still running after this is cancelled (`DELETE nextUri`). */
  readonly timeoutMs: number;
  /** Called once per copy started or refused by a limit; never given SQL. */
  readonly onOutcome?: (outcome: ShadowOutcome, seconds: number) => void;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
}

/** Defaults: 10 % of eligible queries, 2 per second, 2 at once, 2 minutes. */
export const DEFAULT_SHADOW_ROUTE = {
  sample: 0.1,
  maxPerSecond: 2,
  maxConcurrency: 2,
  timeoutMs: 120_000,
} as const;

/**
 * Submits copies to Small through the Trino client protocol: `POST /v1/statement`, then every
 * `nextUri` until there is none; pages are read and thrown away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SHADOW_ROUTE, ShadowRouter } from "./shadow_route.ts";
 * // A stand-in for Small: one page with a nextUri, then the last page.
 * const requests: string[] = [];
 * const small = (url: string | URL | Request, init?: RequestInit) => {
 *   requests.push(`${init?.method} ${url}`);
 *   const first = String(url).endsWith("/v1/statement");
 *   return Promise.resolve(Response.json(first ? { nextUri: "http://small.test/v1/statement/q/1" } : {}));
 * };
 * const outcomes: string[] = [];
 * const shadow = new ShadowRouter({
 *   smallUrl: "http://small.test", ...DEFAULT_SHADOW_ROUTE, fetch: small,
 *   onOutcome: (outcome) => outcomes.push(outcome),
 * });
 * assert.equal(shadow.submit({ sqlText: "SELECT 1" }, new Headers()), "started"); // at once
 * await shadow.idle();
 * assert.deepEqual(requests, ["POST http://small.test/v1/statement", "GET http://small.test/v1/statement/q/1"]);
 * assert.deepEqual(outcomes, ["finished"]);
 * ```
 */
export class ShadowRouter {
  readonly #options: ShadowRouterOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #running = new Set<Promise<void>>();
  #tokens: number;
  #refilledAt: number;

  constructor(options: ShadowRouterOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.maxPerSecond;
    this.#refilledAt = this.#now();
  }

  /** The sample share, for the eligibility check. */
  get sample(): number {
    return this.#options.sample;
  }

  /** Copies running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Starts a copy in the background unless a limit refuses it; returns at once. */
  submit(input: RouteInput, trinoHeaders: Headers): ShadowOutcome | "started" {
    if (this.#running.size >= this.#options.maxConcurrency) {
      this.#options.onOutcome?.("concurrency-limited", 0);
      return "concurrency-limited";
    }
    if (!this.#takeToken()) {
      this.#options.onOutcome?.("rate-limited", 0);
      return "rate-limited";
    }
    const started = this.#now();
    const run: Promise<void> = this.#copy(input, trinoHeaders)
      .then((outcome) => this.#options.onOutcome?.(outcome, (this.#now() - started) / 1000))
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
    return "started";
  }

  /** Resolves when no copy is running. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running);
  }

  #takeToken(): boolean {
    const now = this.#now();
    const { maxPerSecond } = this.#options;
    this.#tokens = Math.min(
      maxPerSecond,
      this.#tokens + ((now - this.#refilledAt) / 1000) * maxPerSecond,
    );
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  async #copy(input: RouteInput, trinoHeaders: Headers): Promise<ShadowOutcome> {
    const deadline = this.#now() + this.#options.timeoutMs;
    const headers = copyHeaders(trinoHeaders, input);
    let response: unknown;
    try {
      response = await this.#json(`${this.#options.smallUrl}/v1/statement`, {
        method: "POST",
        headers,
        body: input.sqlText,
      }, deadline);
      for (;;) {
        const outcome = outcomeOf(response);
        if (outcome) return outcome;
        const nextUri = (response as { nextUri?: unknown }).nextUri;
        if (typeof nextUri !== "string") return "finished";
        if (this.#now() >= deadline) {
          await this.#fetch(nextUri, { method: "DELETE" }).then((r) => r.body?.cancel()).catch(
            () => {},
          );
          return "timeout";
        }
        response = await this.#json(nextUri, { method: "GET", headers }, deadline);
      }
    } catch (error) {
      return error instanceof DOMException && error.name === "TimeoutError"
        ? "timeout"
        : "unreachable";
    }
  }

  async #json(url: string, init: RequestInit, deadline: number): Promise<unknown> {
    const signal = AbortSignal.timeout(Math.max(1, deadline - this.#now()));
    const response = await this.#fetch(url, { ...init, signal });
    // The data pages are read only to find the next URI; nothing of them is kept.
    const text = await response.text();
    if (!response.ok) return { error: { errorType: `HTTP_${response.status}` } };
    return JSON.parse(text);
  }
}

function outcomeOf(response: unknown): ShadowOutcome | undefined {
  const error = (response as { error?: { errorType?: unknown } } | null)?.error;
  if (!error) return undefined;
  return error.errorType === RESOURCE_ERROR_TYPE ? "resource-failure" : "failed";
}

/** The copy's headers: the client's Trino context and session, plus the shadow-copy tag. */
function copyHeaders(trinoHeaders: Headers, input: RouteInput): Headers {
  const headers = new Headers();
  for (
    const name of [
      TRINO_HEADERS.user,
      TRINO_HEADERS.source,
      TRINO_HEADERS.catalog,
      TRINO_HEADERS.schema,
      TRINO_HEADERS.session,
      "X-Trino-Time-Zone",
      "X-Trino-Language",
    ]
  ) {
    const value = trinoHeaders.get(name);
    if (value) headers.set(name, value);
  }
  if (!headers.has(TRINO_HEADERS.user)) headers.set(TRINO_HEADERS.user, input.user ?? "router");
  headers.set(TRINO_HEADERS.clientTags, [...(input.clientTags ?? []), SHADOW_COPY_TAG].join(","));
  return headers;
}

/**
 * True for a completion event of a shadow copy (it carries {@linkcode SHADOW_COPY_TAG}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isShadowCopy, SHADOW_COPY_TAG } from "./shadow_route.ts";
 * assert.ok(isShadowCopy({ clientTags: ["etl", SHADOW_COPY_TAG] }));
 * assert.ok(!isShadowCopy({}));
 * ```
 */
export function isShadowCopy(context: { readonly clientTags?: readonly string[] }): boolean {
  return context.clientTags?.includes(SHADOW_COPY_TAG) ?? false;
}
