import assert from "node:assert/strict";
import { headerRecord, type ProcessingRequest } from "../../src/ext_proc/messages.ts";
import { RetryProcessor } from "../../src/ext_proc/retry_processor.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { StoredSubmission } from "../../src/store/store.ts";

const encoder = new TextEncoder();
const silent = { info() {}, warn() {}, error() {} };
const SQL = "SELECT count(*) FROM lineitem";

function postHeaders(): ProcessingRequest {
  return {
    request: "request_headers",
    request_headers: {
      headers: {
        headers: [
          { key: ":method", raw_value: encoder.encode("POST") },
          { key: ":path", raw_value: encoder.encode("/v1/statement") },
          // Older Envoy releases fill `value` instead of `raw_value`.
          { key: "x-trino-user", value: "alice" },
        ],
      },
    },
  };
}

const responseBody = (doc: unknown, endOfStream = true): ProcessingRequest => ({
  request: "response_body",
  response_body: { body: encoder.encode(JSON.stringify(doc)), end_of_stream: endOfStream },
});
const queued = { id: "q1", nextUri: "http://e/small/v1/statement/queued/q1/y/1" };
const failed = { id: "q1", error: { errorName: "X", errorType: "INSUFFICIENT_RESOURCES" } };

Deno.test("headerRecord reads raw_value or value and joins repeated names", () => {
  const record = headerRecord({
    headers: {
      headers: [
        { key: "X-Trino-Session", raw_value: encoder.encode("a=1") },
        { key: "x-trino-session", value: "b=2" },
        { key: "x-empty", value: "" },
      ],
    },
  });
  assert.deepEqual(record, { "x-trino-session": "a=1, b=2", "x-empty": "" });
});

Deno.test("a submission is kept from the POST stream, with value-encoded headers", async () => {
  const store = new MemoryStore();
  const stream = new RetryProcessor({
    store,
    largeClusterUrl: "http://127.0.0.1:1",
    logger: silent,
  })
    .stream();
  await stream.handle(postHeaders());
  await stream.handle({
    request: "request_body",
    request_body: { body: encoder.encode(SQL), end_of_stream: true },
  });
  await stream.handle(responseBody(queued));
  const kept = await store.takeSubmission("q1");
  assert.equal(kept?.sqlText, SQL);
  assert.equal(kept?.headers["x-trino-user"], "alice");
  await store.close();
});

Deno.test("an SQL body cut at Envoy's buffer limit is not kept (no retry on half a query)", async () => {
  const store = new MemoryStore();
  const stream = new RetryProcessor({
    store,
    largeClusterUrl: "http://127.0.0.1:1",
    logger: silent,
  })
    .stream();
  await stream.handle(postHeaders());
  await stream.handle({
    request: "request_body",
    request_body: {
      body: encoder.encode("SELECT 1 FROM t WHERE x IN (1, 2"),
      end_of_stream: false,
    },
  });
  await stream.handle(responseBody(queued));
  assert.equal(await store.takeSubmission("q1"), undefined);
  await store.close();
});

Deno.test("rows seen while the store was degraded still block a later retry", async () => {
  // A store that drops writes and reads while "degraded", like the Redis store's breaker.
  const inner = new MemoryStore();
  let degraded = false;
  const store = Object.assign(Object.create(inner), {
    putSubmission: (id: string, value: StoredSubmission) => inner.putSubmission(id, value),
    takeSubmission: (id: string) =>
      degraded ? Promise.resolve(undefined) : inner.takeSubmission(id),
    markTemplateHeavy: (fp: string) => inner.markTemplateHeavy(fp),
  });
  let largeCalls = 0;
  const large = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    largeCalls++;
    return Response.json({ id: "large1", nextUri: "http://e/large/v1/statement/queued/l/y/1" });
  });
  const processor = new RetryProcessor({
    store,
    largeClusterUrl: `http://127.0.0.1:${large.addr.port}`,
    logger: silent,
  });
  try {
    await inner.putSubmission("q1", { sqlText: SQL, headers: {} });
    degraded = true;
    await processor.stream().handle(responseBody({ ...queued, data: [[1]] }));
    degraded = false;
    const answer = await processor.stream().handle(responseBody(failed));
    assert.equal(answer.response_body?.response?.body_mutation, undefined);
    assert.equal(largeCalls, 0);
  } finally {
    await large.shutdown();
    await inner.close();
  }
});

Deno.test("a page cut at the buffer limit counts as rows sent", async () => {
  const store = new MemoryStore();
  await store.putSubmission("q1", { sqlText: SQL, headers: {} });
  const processor = new RetryProcessor({
    store,
    largeClusterUrl: "http://127.0.0.1:1",
    logger: silent,
  });
  const cut: ProcessingRequest = {
    request: "response_body",
    response_body: { body: encoder.encode('{"id":"q1","data":[[1],[2'), end_of_stream: false },
  };
  await processor.stream().handle(cut);
  assert.equal(await store.takeSubmission("q1"), undefined, "the submission was dropped");
  await store.close();
});
