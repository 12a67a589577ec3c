/**
 * `POST /v1/events`: the ingest endpoint for Trino's HTTP event listener, one event JSON object
 * per request, from either cluster.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { FeedbackLoop } from "../feedback/feedback_loop.ts";
import type { QueryCompletedEvent } from "../labels/query_event.ts";
import { requireAdmin } from "./admin_auth.ts";
import { type InFlightBudget, inFlightLimit } from "./serve_limits.ts";

/**
 * Options of {@linkcode eventsApi}.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop } from "../feedback/feedback_loop.ts";
 * import type { EventsApiOptions } from "./events_api.ts";
 * import assert from "node:assert/strict";
 * const options: EventsApiOptions = {
 *   feedback: createFeedbackLoop({ store: new MemoryStore(), log: () => {} }),
 *   adminToken: "s3cret",
 * };
 * assert.equal(options.maxBodyBytes, undefined);
 * ```
 */
export interface EventsApiOptions {
  readonly feedback: Pick<FeedbackLoop, "accept">;
  /**
   * Token the event listeners must send as `Authorization: Bearer <token>`
   * (`http-event-listener.connect-http-headers`); unset disables ingestion (403).
   */
  readonly adminToken: string | undefined;
  /**
   * Largest event accepted. Completed events carry the SQL text and the query plan, which can be
   * megabytes for generated SQL; past this the event is refused with 413.
   */
  readonly maxBodyBytes?: number;
  /** The process's budget of request-body bytes in flight (503 + `Retry-After` past it). */
  readonly inFlight?: InFlightBudget;
}

/** Default {@linkcode EventsApiOptions.maxBodyBytes}: 32 MiB. */
export const DEFAULT_MAX_EVENT_BYTES = 32 * 1024 * 1024;

const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

type Classified =
  | { readonly kind: "completed"; readonly event: QueryCompletedEvent }
  | { readonly kind: "ignored" }
  | { readonly kind: "invalid"; readonly error: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Tells a query-completed event from the other events the listener can send (query-created,
 * split-completed when an operator enables them) and from anything else.
 */
function classify(body: unknown): Classified {
  if (!isObject(body)) return { kind: "invalid", error: "expected one Trino event JSON object" };
  const metadata = body.metadata;
  if (isObject(metadata) && typeof metadata.queryId === "string" && metadata.queryId !== "") {
    // QueryCreatedEvent has metadata and context but no statistics: nothing to learn from yet.
    if (!isObject(body.statistics)) return { kind: "ignored" };
    if (
      metadata.query !== undefined && metadata.query !== null && typeof metadata.query !== "string"
    ) {
      return { kind: "invalid", error: "metadata.query must be a string" };
    }
    if (body.context !== undefined && body.context !== null && !isObject(body.context)) {
      return { kind: "invalid", error: "context must be an object" };
    }
    return {
      kind: "completed",
      event: { ...body, context: body.context ?? {} } as unknown as QueryCompletedEvent,
    };
  }
  // SplitCompletedEvent carries queryId and stageId at the top level.
  if (typeof body.queryId === "string" && typeof body.stageId === "string") {
    return { kind: "ignored" };
  }
  return { kind: "invalid", error: "not a Trino query event: metadata.queryId is missing" };
}

/** Where Trino's http event listener posts (`/v1/events`, `/v1/events/<cluster>`). */
export const EVENTS_PREFIX = "/v1/events";

/**
 * The events sub-app. Mount it on the main app; point each cluster's HTTP event listener at it:
 *
 * ```properties
 * event-listener.name=http
 * http-event-listener.log-completed=true
 * http-event-listener.connect-ingest-uri=http://router:8080/v1/events/small
 * http-event-listener.connect-http-headers=Authorization:Bearer <ROUTER_ADMIN_TOKEN>
 * ```
 *
 * `POST /v1/events` and `POST /v1/events/<cluster>` accept one event JSON object. The cluster
 * in the path says where the query ran (else the decision's target cluster is assumed). The
 * answer comes before the event is handled:
 * - 401/403 `{"error":"…"}` without the admin token (see `requireAdmin`); the body is not read;
 * - 200 `{"status":"accepted"}` for a query-completed event, handled in the background;
 * - 200 `{"status":"ignored"}` for query-created and split-completed events;
 * - 400 `{"error":"…"}` for a body that is not JSON or not a Trino event, or a path naming a
 *   cluster that is not configured (the listener does not retry 4xx: resending cannot help);
 * - 413 for a body larger than `maxBodyBytes`;
 * - 503 `{"error":"…"}` with `Retry-After` while too many events are in flight (the listener
 *   retries 5xx when `http-event-listener.connect-retry-count` is set).
 *
 * @example
 * ```ts
 * import { type Context, Hono } from "hono";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop } from "../feedback/feedback_loop.ts";
 * import { eventsApi } from "./events_api.ts";
 * const feedback = createFeedbackLoop({ store: new MemoryStore(), log: () => {} });
 * import assert from "node:assert/strict";
 * const app = new Hono().route("/", eventsApi({ feedback, adminToken: "s3cret" }));
 * const anonymous = await app.request("/v1/events", { method: "POST", body: "{}" });
 * assert.equal(anonymous.status, 401);
 * const response = await app.request("/v1/events", {
 *   method: "POST",
 *   body: "not json",
 *   headers: { authorization: "Bearer s3cret" },
 * });
 * assert.equal(response.status, 400);
 * ```
 */
export function eventsApi(options: EventsApiOptions): Hono {
  const { feedback } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const app = new Hono();

  const limit = bodyLimit({
    maxSize: maxBodyBytes,
    onError: (c) => c.json({ error: `event larger than ${maxBodyBytes} bytes` }, 413),
  });

  const ingest = async (c: Context, cluster: string | undefined): Promise<Response> => {
    if (cluster !== undefined && !CLUSTER_NAME.test(cluster)) {
      return c.json({ error: "cluster name must match [A-Za-z0-9_.-]{1,64}" }, 400);
    }
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      return c.json({ error: "body is not valid JSON" }, 400);
    }
    const classified = classify(body);
    switch (classified.kind) {
      case "invalid":
        return c.json({ error: classified.error }, 400);
      case "ignored":
        return c.json({ status: "ignored" }, 200);
      case "completed":
        switch (feedback.accept(classified.event, cluster)) {
          case "accepted":
            return c.json({ status: "accepted" }, 200);
          case "unknown-cluster":
            return c.json({ error: `unknown cluster "${cluster}": not a configured cluster` }, 400);
          case "busy":
            c.header("Retry-After", "1");
            return c.json({ error: "too many events in flight; retry later" }, 503);
        }
    }
  };

  // Authentication first: an anonymous caller's body is never read.
  const auth = requireAdmin(options.adminToken);
  const busy = inFlightLimit(options.inFlight, maxBodyBytes, (c) => {
    c.header("Retry-After", "1");
    return c.json({ error: "too many event bytes in flight; retry later" }, 503);
  });
  app.post("/", auth, limit, busy, (c) => ingest(c, undefined));
  app.post("/:cluster", auth, limit, busy, (c) => ingest(c, c.req.param("cluster")));
  // Whatever goes wrong in here is answered, never thrown into the main app.
  app.onError((_error, c) => c.json({ error: "internal error while reading the event" }, 500));
  return new Hono().route(EVENTS_PREFIX, app);
}
