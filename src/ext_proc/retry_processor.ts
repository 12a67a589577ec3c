/**
 * The transparent retry on Large, one ext_proc stream (= one HTTP request through Envoy) at a time: remembers submissions, notices resource-exhaustion errors and swaps in Large's first response.
 *
 * @module
 */

import { createLogger, type Logger } from "../log.ts";
import type { Store, StoredSubmission } from "../store/store.ts";
import {
  continueResponse,
  headerRecord,
  type HeaderValueOption,
  type ProcessingRequest,
  type ProcessingResponse,
} from "./messages.ts";
import { marksTemplateHeavy, RESOURCE_ERROR_TYPE } from "../labels/query_event.ts";
import { sqlTemplateFingerprint } from "../sql/normalize.ts";
import type { RetryMetrics } from "./retry_metrics.ts";
import {
  decideRetry,
  isRetryableSql,
  largeRetryHeaders,
  type PublicOrigin,
  submissionHeaders,
  summarizeTrinoResponse,
  type TrinoResponseSummary,
} from "./retry_policy.ts";

/** Default bound of the retry's POST to Large; Envoy's `message_timeout` must be longer. */
export const DEFAULT_RETRY_TIMEOUT_MS = 5_000;

/**
 * What a {@linkcode RetryProcessor} works with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import type { RetryProcessorOptions } from "./retry_processor.ts";
 * const options: RetryProcessorOptions = {
 *   store: new MemoryStore(),
 *   largeClusterUrl: "http://127.0.0.1:18082",
 * };
 * assert(options.largeClusterUrl.endsWith("18082"));
 * await options.store.close();
 * ```
 */
export interface RetryProcessorOptions {
  readonly store: Store;
  /** Large's coordinator as the router reaches it directly, e.g. `http://trino-large:8080`. */
  readonly largeClusterUrl: string;
  /** `host[:port]` clients use for Envoy; default: the `Host` the original request carried. */
  readonly envoyPublicHost?: string;
  /** `http` or `https` as clients reach Envoy; default: the original `X-Forwarded-Proto`. */
  readonly envoyPublicProto?: "http" | "https";
  readonly metrics?: RetryMetrics;
  readonly logger?: Logger;
  /** Bound of the POST to Large (default {@linkcode DEFAULT_RETRY_TIMEOUT_MS}). */
  readonly retryTimeoutMs?: number;
  /** How many query ids with rows sent this replica remembers (default 100,000). */
  readonly rowsSentCapacity?: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Shared state and actions of the retry; {@linkcode RetryProcessor.stream} makes the handler
 * of one ext_proc stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { RetryProcessor } from "./retry_processor.ts";
 * const store = new MemoryStore();
 * const processor = new RetryProcessor({ store, largeClusterUrl: "http://127.0.0.1:1" });
 * const stream = processor.stream();
 * const answer = await stream.handle({ request: "response_body", response_body: {} });
 * assert("response_body" in answer);
 * await store.close();
 * ```
 */
export class RetryProcessor {
  readonly #options: RetryProcessorOptions;
  readonly #logger: Logger;
  // Query ids whose rows reached a client through this replica. The store's copy of the
  // submission is dropped too (shared with other replicas); this set also covers a store that
  // was degraded when the rows went out and is back when the error comes.
  readonly #rowsSent = new Set<string>();
  readonly #rowsSentCapacity: number;

  constructor(options: RetryProcessorOptions) {
    this.#options = options;
    this.#logger = options.logger ?? createLogger();
    this.#rowsSentCapacity = options.rowsSentCapacity ?? 100_000;
  }

  /** Where the retry logs (never SQL: the logger only takes declared fields). */
  get logger(): Logger {
    return this.#logger;
  }

  /** A handler for one new ext_proc stream. */
  stream(): StreamHandler {
    return new StreamHandler(this);
  }

  /** Remembers a read-only submission for a possible retry (no SQL in any log). */
  async remember(queryId: string, submission: StoredSubmission): Promise<void> {
    await this.#options.store.putSubmission(queryId, submission);
  }

  /** Rows of `queryId` reached the client: the query can no longer be retried. */
  async rowsSent(queryId: string): Promise<void> {
    if (this.#rowsSent.has(queryId)) return;
    if (this.#rowsSent.size >= this.#rowsSentCapacity) {
      // Oldest first (insertion order): a query that old is long past its first page.
      const oldest = this.#rowsSent.values().next().value;
      if (oldest !== undefined) this.#rowsSent.delete(oldest);
    }
    this.#rowsSent.add(queryId);
    // Awaited, so that the client cannot ask for the next page (which might carry the error)
    // before the submission is gone.
    await this.#options.store.takeSubmission(queryId);
  }

  /**
   * Handles a response carrying a resource-exhaustion error. `known` is the submission when the
   * caller has it at hand (the error came with the POST's own response); otherwise it is taken
   * from the store, which also makes a second retry impossible. Returns Large's first response
   * body, or `undefined` to let Small's error through.
   */
  async onResourceError(
    summary: TrinoResponseSummary,
    known?: StoredSubmission,
  ): Promise<string | undefined> {
    const locallyRowsSent = this.#rowsSent.has(summary.queryId);
    const submission = known ??
      (locallyRowsSent ? undefined : await this.#options.store.takeSubmission(summary.queryId));
    if (
      submission !== undefined &&
      marksTemplateHeavy({ type: summary.errorType, name: summary.errorName })
    ) {
      // Even when not retried, the template exhausted Small: its next runs go to Large (the
      // same rule as the feedback loop's: a full queue says nothing about the template).
      await this.#options.store.markTemplateHeavy(sqlTemplateFingerprint(submission.sqlText));
    }
    const verdict = decideRetry(summary, { rowsSent: locallyRowsSent, submission });
    if (verdict === "no-resource-error") return undefined;
    if (verdict !== "retry" || submission === undefined) {
      this.#options.metrics?.retries.inc({ outcome: verdict });
      this.#logger.info("retry skipped", {
        component: "ext_proc",
        queryId: summary.queryId,
        reason: verdict,
        error: summary.errorName,
      });
      return undefined;
    }
    return await this.#submitToLarge(summary, submission);
  }

  async #submitToLarge(
    summary: TrinoResponseSummary,
    submission: StoredSubmission,
  ): Promise<string | undefined> {
    const started = performance.now();
    const origin: PublicOrigin = {
      host: this.#options.envoyPublicHost,
      proto: this.#options.envoyPublicProto,
    };
    let failure: string | undefined;
    let body: string | undefined;
    let largeId: string | undefined;
    try {
      const response = await fetch(
        new URL("/v1/statement", this.#options.largeClusterUrl),
        {
          method: "POST",
          headers: largeRetryHeaders(submission, origin),
          body: submission.sqlText,
          signal: AbortSignal.timeout(this.#options.retryTimeoutMs ?? DEFAULT_RETRY_TIMEOUT_MS),
        },
      );
      const text = await response.text();
      const large = response.ok ? summarizeTrinoResponse(text, true) : undefined;
      if (large === undefined) {
        failure = `Large answered HTTP ${response.status}`;
      } else if (large.errorType !== undefined) {
        failure = `Large failed the query: ${large.errorName ?? large.errorType}`;
      } else {
        body = text;
        largeId = large.queryId;
      }
    } catch (error) {
      failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    const durationMs = performance.now() - started;
    this.#options.metrics?.retryDuration.observe(durationMs / 1000);
    if (body === undefined) {
      this.#options.metrics?.retries.inc({ outcome: "large_failed" });
      this.#logger.warn("retry on large failed; the client gets the original error", {
        component: "ext_proc",
        queryId: summary.queryId,
        error: failure,
        durationMs,
      });
      return undefined;
    }
    this.#options.metrics?.retries.inc({ outcome: "retried" });
    this.#logger.info("query retried on large", {
      component: "ext_proc",
      queryId: summary.queryId,
      route: "large",
      reason: summary.errorName ?? RESOURCE_ERROR_TYPE,
      detail: `large query id ${largeId}`,
      durationMs,
    });
    return body;
  }
}

// A statement submission is `POST /v1/statement` exactly (Envoy's statement routes match the
// path exactly too); everything else on a Small route is a follow-up.
function isSubmission(headers: Record<string, string>): boolean {
  return headers[":method"] === "POST" &&
    (headers[":path"] ?? "").split("?")[0] === "/v1/statement";
}

/**
 * The state of one ext_proc stream: Envoy opens one per HTTP request and sends, depending on the
 * route's processing mode, the request headers and body and then the response body.
 */
export class StreamHandler {
  readonly #processor: RetryProcessor;
  #submission = false;
  #requestHeaders: Record<string, string> = {};
  #bodyChunks: Uint8Array[] = [];
  #sqlText: string | undefined;

  constructor(processor: RetryProcessor) {
    this.#processor = processor;
  }

  /** Answers one ext_proc message; never throws (a failure lets the message through). */
  async handle(message: ProcessingRequest): Promise<ProcessingResponse> {
    const kind = message.request;
    if (kind === undefined) return {};
    try {
      switch (kind) {
        case "request_headers":
          return this.#onRequestHeaders(message);
        case "request_body":
          return this.#onRequestBody(message);
        case "response_body":
          return await this.#onResponseBody(message);
        default:
          return continueResponse(kind);
      }
    } catch (error) {
      // Fail open: the retry is an optimisation, never a reason to break a response.
      this.#processor.logger.error("ext_proc message failed", {
        component: "ext_proc",
        error: error instanceof Error ? error.message : String(error),
      });
      return continueResponse(kind);
    }
  }

  #onRequestHeaders(message: ProcessingRequest): ProcessingResponse {
    this.#requestHeaders = headerRecord(message.request_headers);
    this.#submission = isSubmission(this.#requestHeaders);
    // Identity encoding upstream: the response bodies must be readable JSON here.
    return continueResponse("request_headers", { remove_headers: ["accept-encoding"] });
  }

  #onRequestBody(message: ProcessingRequest): ProcessingResponse {
    const body = message.request_body ?? {};
    if (this.#submission && body.body && body.body.length > 0) this.#bodyChunks.push(body.body);
    // In BUFFERED_PARTIAL mode a body over Envoy's buffer limit arrives cut, without
    // end_of_stream: no complete SQL, so no retry for that query.
    if (this.#submission && body.end_of_stream) {
      this.#sqlText = decoder.decode(concat(this.#bodyChunks));
    }
    this.#bodyChunks = body.end_of_stream ? [] : this.#bodyChunks;
    return continueResponse("request_body");
  }

  async #onResponseBody(message: ProcessingRequest): Promise<ProcessingResponse> {
    const body = message.response_body ?? {};
    const bytes = body.body ?? new Uint8Array();
    const summary = summarizeTrinoResponse(decoder.decode(bytes), body.end_of_stream === true);
    if (summary === undefined) return continueResponse("response_body");
    if (summary.hasData) {
      await this.#processor.rowsSent(summary.queryId);
      return continueResponse("response_body");
    }
    const known = this.#submission && this.#sqlText !== undefined
      ? { sqlText: this.#sqlText, headers: submissionHeaders(this.#requestHeaders) }
      : undefined;
    if (summary.errorType === RESOURCE_ERROR_TYPE) {
      const replacement = await this.#processor.onResourceError(summary, known);
      return replacement === undefined
        ? continueResponse("response_body")
        : replaceBody(replacement);
    }
    // The POST's answer names the query: keep what a retry needs (reads only; writes are
    // never retried, so there is no point holding their SQL).
    if (known !== undefined && !summary.finished && isRetryableSql(known.sqlText)) {
      await this.#processor.remember(summary.queryId, known);
    }
    return continueResponse("response_body");
  }
}

function replaceBody(body: string): ProcessingResponse {
  const bytes = encoder.encode(body);
  const set = (key: string, value: string): HeaderValueOption => ({
    header: { key, raw_value: encoder.encode(value) },
    append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
  });
  return {
    response_body: {
      response: {
        status: "CONTINUE",
        header_mutation: {
          set_headers: [
            set("content-type", "application/json"),
            // Lets clients see that the answer comes from the retry. Envoy applies header
            // mutations sent with a body only when the route also sends response headers to
            // ext_proc (response_header_mode: SEND); with SKIP (one message per page instead of
            // two) it drops them, and in both cases it re-frames the new body itself.
            set("x-trino-router-retried", "large"),
          ],
          remove_headers: ["content-encoding"],
        },
        body_mutation: { body: bytes },
      },
    },
  };
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
