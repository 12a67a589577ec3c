import assert from "node:assert/strict";
import { Hono } from "hono";
import { createFeedbackLoop, type FeedbackLoop } from "../../src/feedback/feedback_loop.ts";
import type { QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { eventsApi } from "../../src/server/events_api.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { completedEvent, recordKey, routed } from "./_feedback_events.ts";
import { ADMIN_HEADERS, TEST_ADMIN_TOKEN } from "./_fixtures.ts";

function setup(options: { maxInFlight?: number; maxBodyBytes?: number } = {}) {
  const store = new MemoryStore();
  const feedback = createFeedbackLoop({ store, log: () => {}, maxInFlight: options.maxInFlight });
  const app = new Hono().route(
    "/",
    eventsApi({ feedback, maxBodyBytes: options.maxBodyBytes, adminToken: TEST_ADMIN_TOKEN }),
  );
  const post = (path: string, body: string) =>
    app.request(path, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...ADMIN_HEADERS },
    });
  return { store, feedback, app, post };
}

Deno.test("a query-completed event is accepted with 200 and reaches the feedback loop", async () => {
  const { store, feedback, post } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const response = await post("/v1/events", JSON.stringify(completedEvent({ queryId: "q1" })));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { status: "accepted" });
  await feedback.idle();
  assert.equal(feedback.confusion().v1.trueNegative, 1);
});

Deno.test("the cluster in the path says where the query ran", async () => {
  const { store, feedback, post } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const event = completedEvent({
    queryId: "q1",
    error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
  });
  assert.equal((await post("/v1/events/small", JSON.stringify(event))).status, 200);
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, { "small|joined": 1 });
  assert.equal(feedback.stats().templateMarks, 1);
  assert.equal(store.health().state, "ok");
});

Deno.test("malformed JSON is answered 400 with an error object", async () => {
  const { post } = setup();
  const response = await post("/v1/events", '{"metadata": ');
  assert.equal(response.status, 400);
  assert.deepEqual(await response.json(), { error: "body is not valid JSON" });
});

Deno.test("JSON that is not one Trino event is answered 400", async () => {
  const { post } = setup();
  for (const body of ["[]", "42", "null", '{"hello":"world"}', '{"metadata":{"queryId":7}}']) {
    const response = await post("/v1/events", body);
    assert.equal(response.status, 400, body);
    assert.equal(typeof (await response.json()).error, "string");
  }
  const badQuery = completedEvent({ queryId: "q1" });
  const response = await post(
    "/v1/events",
    JSON.stringify({ ...badQuery, metadata: { ...badQuery.metadata, query: 12 } }),
  );
  assert.equal(response.status, 400);
});

Deno.test("query-created and split-completed events are acknowledged and ignored", async () => {
  const { feedback, post } = setup();
  const created = { metadata: { queryId: "q1", query: "SELECT 1" }, context: { user: "a" } };
  const split = { queryId: "q1", stageId: "0", taskId: "0.0", statistics: {} };
  for (const event of [created, split]) {
    const response = await post("/v1/events", JSON.stringify(event));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ignored" });
  }
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, {});
});

Deno.test("an event without context is still accepted", async () => {
  const { feedback, post } = setup();
  const { context: _context, ...event } = completedEvent({ queryId: "q1" });
  assert.equal((await post("/v1/events", JSON.stringify(event))).status, 200);
  await feedback.idle();
  assert.equal(feedback.stats().failed, 0);
});

Deno.test("a cluster name outside the allowed characters is answered 400", async () => {
  const { post } = setup();
  const response = await post(
    "/v1/events/sm%20all",
    JSON.stringify(completedEvent({ queryId: "q" })),
  );
  assert.equal(response.status, 400);
});

Deno.test("an event over the size limit is answered 413", async () => {
  const { post } = setup({ maxBodyBytes: 1024 });
  const event = completedEvent({ queryId: "q1", sql: "SELECT " + "1, ".repeat(1000) + "1" });
  const response = await post("/v1/events", JSON.stringify(event));
  assert.equal(response.status, 413);
  assert.equal(typeof (await response.json()).error, "string");
});

Deno.test("while too many events are in flight the answer is 503 with Retry-After", async () => {
  const accepted: QueryCompletedEvent[] = [];
  const full: Pick<FeedbackLoop, "accept"> = {
    accept: (event) => {
      accepted.push(event);
      return "busy";
    },
  };
  const app = new Hono().route("/", eventsApi({ feedback: full, adminToken: TEST_ADMIN_TOKEN }));
  const response = await app.request("/v1/events", {
    method: "POST",
    body: JSON.stringify(completedEvent({ queryId: "q1" })),
    headers: ADMIN_HEADERS,
  });
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
});

Deno.test("a feedback loop that throws is answered 500, never thrown to the server", async () => {
  const app = new Hono().route(
    "/",
    eventsApi({
      feedback: {
        accept: () => {
          throw new Error("boom");
        },
      },
      adminToken: TEST_ADMIN_TOKEN,
    }),
  );
  const response = await app.request("/v1/events", {
    method: "POST",
    body: JSON.stringify(completedEvent({ queryId: "q1" })),
    headers: ADMIN_HEADERS,
  });
  assert.equal(response.status, 500);
  assert.equal(typeof (await response.json()).error, "string");
});

Deno.test("the answer does not wait for the event to be handled", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const store = new MemoryStore();
  const feedback = createFeedbackLoop({
    store: new Proxy(store, {
      get: (target, name) =>
        name === "takeDecision"
          ? (id: string) => gate.then(() => target.takeDecision(id))
          : Reflect.get(target, name),
    }),
    log: () => {},
  });
  const app = new Hono().route("/", eventsApi({ feedback, adminToken: TEST_ADMIN_TOKEN }));
  const response = await app.request("/v1/events", {
    method: "POST",
    body: JSON.stringify(completedEvent({ queryId: "q1" })),
    headers: ADMIN_HEADERS,
  });
  assert.equal(response.status, 200);
  assert.deepEqual(feedback.stats().events, {});
  release();
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, { "unknown|unjoined": 1 });
});

Deno.test("an event for a cluster that is not configured is answered 400", async () => {
  const { post, feedback } = setup();
  const response = await post(
    "/v1/events/elsewhere",
    JSON.stringify(completedEvent({ queryId: "q1" })),
  );
  assert.equal(response.status, 400);
  assert.match((await response.json()).error, /unknown cluster "elsewhere"/);
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, {});
  assert.equal(feedback.stats().rejectedClusters, 1);
});
