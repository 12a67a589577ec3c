/** Shadow route: which queries may be copied, the rate and concurrency bounds, outcomes. */
import assert from "node:assert/strict";
import {
  SHADOW_COPY_TAG,
  shadowEligibility,
  type ShadowOutcome,
  ShadowRouter,
} from "../../src/rollout/shadow_route.ts";
import { createFeedbackLoop } from "../../src/feedback/feedback_loop.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { Guards } from "../../src/rollout/guards.ts";
import { completedEvent, recordKey, routed } from "./_feedback_events.ts";

const LIGHT = { decision: "light", statementKind: "read", reason: "model" } as const;
const input = { sqlText: "SELECT 1", user: "alice" };
const headers = () => new Headers({ "X-Trino-User": "alice" });

Deno.test("only the model's light reads seen with their Trino headers, outside a transaction", () => {
  assert.equal(shadowEligibility(LIGHT, input, headers(), 1), "copy");
  assert.equal(
    shadowEligibility({ ...LIGHT, decision: "heavy" }, input, headers(), 1),
    "not-light",
  );
  assert.equal(
    shadowEligibility({ ...LIGHT, statementKind: "write" }, input, headers(), 1),
    "not-read",
  );
  assert.equal(
    shadowEligibility({ ...LIGHT, statementKind: "utility" }, input, headers(), 1),
    "not-read",
  );
  assert.equal(
    shadowEligibility({ ...LIGHT, reason: "template-cache" }, input, headers(), 1),
    "not-model",
  );
  assert.equal(shadowEligibility(LIGHT, input, undefined, 1), "no-trino-headers");
  const inTransaction = new Headers({ "X-Trino-Transaction-Id": "abc" });
  assert.equal(shadowEligibility(LIGHT, input, inTransaction, 1), "stateful-session");
  const noTransaction = new Headers({ "X-Trino-Transaction-Id": "NONE" });
  assert.equal(shadowEligibility(LIGHT, input, noTransaction, 1), "copy");
  const prepared = new Headers({ "X-Trino-Prepared-Statement": "q1=SELECT+1" });
  assert.equal(shadowEligibility(LIGHT, input, prepared, 1), "stateful-session");
  assert.equal(shadowEligibility(LIGHT, input, headers(), 0), "not-sampled");
  // The sample is a share of queries, deterministic per query.
  const sampled = Array.from(
    { length: 1000 },
    (_, i) => shadowEligibility(LIGHT, { sqlText: `SELECT ${i}` }, headers(), 0.1) === "copy",
  ).filter(Boolean).length;
  assert.ok(sampled > 60 && sampled < 140, `${sampled}/1000`);
});

/** A fake Small: `pages` pages per query, or an error on the first GET. */
function fakeSmall(options: { pages?: number; error?: string; hang?: boolean } = {}) {
  const calls: { method: string; url: string; headers: Headers; body?: string }[] = [];
  const fetcher = (async (url: string, init: RequestInit = {}) => {
    calls.push({
      method: init.method ?? "GET",
      url,
      headers: new Headers(init.headers),
      body: init.body as string | undefined,
    });
    if (init.method === "DELETE") return new Response(null, { status: 204 });
    if (options.hang) {
      await new Promise((_, reject) =>
        init.signal?.addEventListener("abort", () => reject(init.signal!.reason))
      );
    }
    const page = init.method === "POST" ? 0 : Number(url.split("/").at(-1));
    if (page === 1 && options.error) {
      return Response.json({ id: "q", error: { errorType: options.error } });
    }
    const more = page < (options.pages ?? 2);
    return Response.json({
      id: "q",
      data: [[page]],
      ...(more ? { nextUri: `http://small/q/${page + 1}` } : {}),
    });
  }) as typeof fetch;
  return { calls, fetcher };
}

function router(
  fetcher: typeof fetch,
  overrides: Partial<ConstructorParameters<typeof ShadowRouter>[0]> = {},
) {
  const outcomes: ShadowOutcome[] = [];
  const shadow = new ShadowRouter({
    smallUrl: "http://small",
    sample: 1,
    maxPerSecond: 100,
    maxConcurrency: 10,
    timeoutMs: 5_000,
    fetch: fetcher,
    onOutcome: (outcome) => outcomes.push(outcome),
    ...overrides,
  });
  return { shadow, outcomes };
}

Deno.test("a copy is submitted with the user's context and the shadow tag, and drained", async () => {
  const small = fakeSmall({ pages: 3 });
  const { shadow, outcomes } = router(small.fetcher);
  const clientHeaders = new Headers({
    "X-Trino-User": "alice",
    "X-Trino-Catalog": "tpch",
    "X-Trino-Client-Tags": "etl",
    Cookie: "secret",
  });
  assert.equal(
    shadow.submit({ sqlText: "SELECT 1", clientTags: ["etl"] }, clientHeaders),
    "started",
  );
  await shadow.idle();
  assert.deepEqual(outcomes, ["finished"]);
  assert.equal(small.calls[0].method, "POST");
  assert.equal(small.calls[0].body, "SELECT 1");
  assert.equal(small.calls[0].headers.get("x-trino-user"), "alice");
  assert.equal(small.calls[0].headers.get("x-trino-catalog"), "tpch");
  assert.equal(small.calls[0].headers.get("x-trino-client-tags"), `etl,${SHADOW_COPY_TAG}`);
  assert.equal(small.calls[0].headers.get("cookie"), null);
  assert.equal(small.calls.filter((c) => c.method === "GET").length, 3);
});

Deno.test("outcomes: resource failure, other failure, unreachable, timeout (cancelled)", async () => {
  const resource = router(fakeSmall({ error: "INSUFFICIENT_RESOURCES" }).fetcher);
  resource.shadow.submit(input, headers());
  const failed = router(fakeSmall({ error: "USER_ERROR" }).fetcher);
  failed.shadow.submit(input, headers());
  const down = router((() => Promise.reject(new TypeError("connection refused"))) as typeof fetch);
  down.shadow.submit(input, headers());
  const hung = fakeSmall({ hang: true });
  const slow = router(hung.fetcher, { timeoutMs: 50 });
  slow.shadow.submit(input, headers());
  await Promise.all([resource, failed, down, slow].map((r) => r.shadow.idle()));
  assert.deepEqual(resource.outcomes, ["resource-failure"]);
  assert.deepEqual(failed.outcomes, ["failed"]);
  assert.deepEqual(down.outcomes, ["unreachable"]);
  assert.deepEqual(slow.outcomes, ["timeout"]);
});

Deno.test("concurrency and rate bounds refuse copies instead of queueing them", async () => {
  const hung = fakeSmall({ hang: true });
  const bounded = router(hung.fetcher, { maxConcurrency: 2, timeoutMs: 100 });
  assert.equal(bounded.shadow.submit(input, headers()), "started");
  assert.equal(bounded.shadow.submit(input, headers()), "started");
  assert.equal(bounded.shadow.submit(input, headers()), "concurrency-limited");
  assert.equal(bounded.shadow.running, 2);
  await bounded.shadow.idle();
  let now = 0;
  const rated = router(fakeSmall().fetcher, { maxPerSecond: 2, now: () => now });
  assert.equal(rated.shadow.submit(input, headers()), "started");
  assert.equal(rated.shadow.submit(input, headers()), "started");
  assert.equal(rated.shadow.submit(input, headers()), "rate-limited");
  now = 500; // half a second refills one token
  assert.equal(rated.shadow.submit(input, headers()), "started");
  assert.equal(rated.shadow.submit(input, headers()), "rate-limited");
  await rated.shadow.idle();
  assert.deepEqual(
    rated.outcomes.filter((o) => o === "rate-limited").length,
    2,
  );
});

Deno.test("a copy's completion event feeds Small's guard, never the confusion counts or a join", async () => {
  const store = new MemoryStore();
  const guards = new Guards();
  const feedback = createFeedbackLoop({ store, guards, log: () => {} });
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const copy = completedEvent({
    queryId: "q1",
    error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
  });
  (copy.context as { clientTags: string[] }).clientTags = [SHADOW_COPY_TAG];
  const outcome = await feedback.handleEvent(copy, "small");
  assert.equal(outcome.joined, false);
  assert.deepEqual(feedback.confusion(), {});
  assert.deepEqual(feedback.stats().events, { "small|shadow-copy": 1 });
  assert.equal(feedback.stats().templateMarks, 0);
  const small = guards.read().find((r) => r.guard === "small-resource-failure")!;
  assert.equal(small.samples, 1);
  assert.equal(small.value, 1);
  // The original's own event (from where its decision sent it) still joins its decision.
  const original = await feedback.handleEvent(completedEvent({ queryId: "q1" }), "small");
  assert.equal(original.joined, true);
});
