// The ext_proc server over real gRPC, with a @grpc/grpc-js client playing Envoy (same proto,
// same message sequence as Envoy's ext_proc filter) and a stub Large coordinator over HTTP.
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { createLogger } from "../../src/log.ts";
import { startExtProcServer } from "../../src/ext_proc/server.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { startStubTrino } from "./ext_proc_stub_trino.ts";
import {
  bodyOf,
  exchange,
  extProcClient,
  failed,
  followupStream,
  HEAVY_SQL,
  page,
  queued,
  submissionStream,
} from "./ext_proc_grpc_client.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function setup(largeUp = true) {
  const large = startStubTrino({ name: "large", behaviour: "rows" });
  if (!largeUp) await large.close();
  const store = new MemoryStore();
  const registry = new Registry();
  const logLines: string[] = [];
  const server = await startExtProcServer({
    store,
    largeClusterUrl: large.url,
    port: 0,
    host: "127.0.0.1",
    metricsRegistry: registry,
    logger: createLogger((line) => logLines.push(line)),
    retryTimeoutMs: 2_000,
  });
  const client = extProcClient(server.port);
  const metric = async (outcome: string) => {
    const text = await registry.metrics();
    const match = text.match(
      new RegExp(`trino_router_retries_total\\{outcome="${outcome}"\\} (\\d+)`),
    );
    return match ? Number(match[1]) : NaN;
  };
  return {
    large,
    store,
    client,
    metric,
    logLines,
    async close() {
      client.close();
      await server.close();
      if (largeUp) await large.close();
      await store.close();
    },
  };
}

Deno.test("ext_proc: a resource failure before any row is replaced by Large's first response", async () => {
  const t = await setup();
  try {
    const id = "20250811_000000_00001_small";
    const [reqHeaders, reqBody, postResponse] = await exchange(
      t.client,
      submissionStream(HEAVY_SQL, queued(id)),
    );
    // Bodies must come back uncompressed to be readable.
    assert.deepEqual(
      reqHeaders.request_headers?.response?.header_mutation?.remove_headers,
      ["accept-encoding"],
    );
    assert.ok(reqBody.request_body);
    assert.equal(bodyOf(postResponse), undefined, "the POST's own response passes unchanged");

    const [answer] = await exchange(t.client, followupStream(failed(id)));
    const replaced = JSON.parse(bodyOf(answer)!);
    assert.match(replaced.id, /_large$/);
    assert.equal(
      replaced.nextUri,
      `http://envoy.test:8080/large/v1/statement/queued/${replaced.id}/y/1`,
    );
    assert.equal(replaced.error, undefined);
    const setHeaders = Object.fromEntries(
      answer.response_body!.response!.header_mutation!.set_headers!.map((
        h,
      ) => [h.header.key, decoder.decode(h.header.raw_value)]),
    );
    assert.equal(setHeaders["content-type"], "application/json");
    assert.equal(setHeaders["x-trino-router-retried"], "large");

    // Large got the same SQL and client headers, with the forwarding headers for Envoy.
    const post = t.large.requests.find((r) => r.method === "POST")!;
    assert.equal(post.body, HEAVY_SQL);
    assert.equal(post.headers["x-trino-user"], "alice");
    assert.equal(post.headers["x-trino-catalog"], "tpch");
    assert.equal(post.headers["x-trino-schema"], "sf1");
    assert.equal(post.headers["x-trino-session"], "query_max_memory=1GB");
    assert.equal(post.headers["x-forwarded-prefix"], "/large");
    assert.equal(post.headers["x-forwarded-host"], "envoy.test:8080");
    assert.equal(post.headers.authorization, undefined);
    assert.equal(post.headers["x-trino-routing-group"], undefined);

    assert.ok(await t.store.isTemplateHeavy(sqlTemplateFingerprint(HEAVY_SQL)));
    assert.equal(await t.metric("retried"), 1);
    // No SQL in any log line.
    assert.ok(t.logLines.length > 0);
    assert.ok(t.logLines.every((line) => !line.includes("lineitem")), t.logLines.join("\n"));

    // Never twice: the same error again (e.g. a replayed page) passes through.
    const [again] = await exchange(t.client, followupStream(failed(id)));
    assert.equal(bodyOf(again), undefined);
    assert.equal(await t.metric("skipped_unknown_query"), 1);
    assert.equal(t.large.requests.filter((r) => r.method === "POST").length, 1);
  } finally {
    await t.close();
  }
});

Deno.test("ext_proc: no retry once rows reached the client", async () => {
  const t = await setup();
  try {
    const id = "20250811_000000_00002_small";
    await exchange(t.client, submissionStream(HEAVY_SQL, queued(id)));
    const [pageAnswer] = await exchange(t.client, followupStream(page(id)));
    assert.equal(bodyOf(pageAnswer), undefined);
    const [answer] = await exchange(t.client, followupStream(failed(id)));
    assert.equal(bodyOf(answer), undefined);
    assert.equal(await t.metric("skipped_rows_sent"), 1);
    assert.equal(t.large.requests.length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("ext_proc: writes are never retried (nor kept)", async () => {
  const t = await setup();
  try {
    const id = "20250811_000000_00003_small";
    await exchange(t.client, submissionStream("INSERT INTO t SELECT * FROM lineitem", queued(id)));
    assert.equal(await t.store.takeSubmission(id), undefined, "write submissions are not stored");
    const [answer] = await exchange(t.client, followupStream(failed(id)));
    assert.equal(bodyOf(answer), undefined);
    assert.equal(await t.metric("skipped_unknown_query"), 1);
    assert.equal(t.large.requests.length, 0);
  } finally {
    await t.close();
  }
});

Deno.test("ext_proc: other errors and non-protocol bodies pass untouched", async () => {
  const t = await setup();
  try {
    const id = "20250811_000000_00004_small";
    await exchange(t.client, submissionStream(HEAVY_SQL, queued(id)));
    const [userError] = await exchange(t.client, followupStream(failed(id, "USER_ERROR")));
    assert.equal(bodyOf(userError), undefined);
    const [html] = await exchange(t.client, [{
      request: "response_body",
      response_body: { body: encoder.encode("<html>ui</html>"), end_of_stream: true },
    }]);
    assert.equal(bodyOf(html), undefined);
    assert.equal(t.large.requests.length, 0);
    assert.equal(await t.metric("retried"), 0);
  } finally {
    await t.close();
  }
});

Deno.test("ext_proc: a resource error in the POST's own response is retried too", async () => {
  const t = await setup();
  try {
    const id = "20250811_000000_00005_small";
    const answers = await exchange(t.client, submissionStream(HEAVY_SQL, failed(id)));
    const replaced = JSON.parse(bodyOf(answers[2])!);
    assert.match(replaced.id, /_large$/);
    assert.equal(await t.metric("retried"), 1);
  } finally {
    await t.close();
  }
});

Deno.test("ext_proc: Large down means the client gets Small's error, counted", async () => {
  const t = await setup(false);
  try {
    const id = "20250811_000000_00006_small";
    await exchange(t.client, submissionStream(HEAVY_SQL, queued(id)));
    const [answer] = await exchange(t.client, followupStream(failed(id)));
    assert.equal(bodyOf(answer), undefined);
    assert.equal(await t.metric("large_failed"), 1);
    assert.ok(t.logLines.some((line) => line.includes("retry on large failed")));
  } finally {
    await t.close();
  }
});

Deno.test({
  name: "ext_proc: silent, half-preface and idle connections are closed after the idle timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const store = new MemoryStore();
    const idleTimeoutMs = 1_000;
    const server = await startExtProcServer({
      store,
      largeClusterUrl: "http://127.0.0.1:9",
      port: 0,
      idleTimeoutMs,
    });
    const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    const settings = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const sends = [undefined, preface.subarray(0, 10), new Uint8Array([...preface, ...settings])];
    const conns: Deno.Conn[] = [];
    try {
      const closedAfter = await Promise.all(sends.map(async (send) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        conns.push(conn);
        const opened = performance.now();
        if (send) await conn.write(send);
        // Without the timeout the read never ends: the test's own guard fails it after 20 s.
        const guard = setTimeout(() => conn.close(), 20_000);
        const buffer = new Uint8Array(1024);
        try {
          while (await conn.read(buffer) !== null) { /* GOAWAY, then the close */ }
        } catch {
          // reset, or closed by the guard (then the elapsed time says so)
        }
        clearTimeout(guard);
        return performance.now() - opened;
      }));
      for (const ms of closedAfter) {
        assert.ok(ms >= idleTimeoutMs - 50 && ms < 15_000, `closed after ${ms.toFixed(0)} ms`);
      }
    } finally {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // closed by the server
        }
      }
      await server.close();
      await store.close();
    }
  },
});
