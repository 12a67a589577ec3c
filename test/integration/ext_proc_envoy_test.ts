// Real Envoy (deploy/envoy/envoy.yaml, retry sections on) + the ext_proc retry server + stub Trino
// coordinators: a client talking to Envoy gets Large's complete result when Small fails the
// query for lack of resources, and Small's answers otherwise.
import assert from "node:assert/strict";
import { envoyInstalled } from "../../tools/harness/envoy_process.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { startRetryStack } from "./ext_proc_envoy.ts";
import { expectedRows, runTrinoQuery, startStubTrino } from "./ext_proc_stub_trino.ts";

const ignore = !(await envoyInstalled()) && !Deno.env.get("CI");
if (ignore) console.warn("envoy not installed: skipping (run .ci/install_envoy.sh)");

const SQL = "SELECT n FROM big CROSS JOIN other WHERE d > DATE '2025-01-01'";
const loopback = (port: number) => ({ host: "127.0.0.1", port });

Deno.test({
  name: "envoy+ext_proc: Small's resource failure becomes Large's complete result",
  ignore,
  async fn() {
    const small = startStubTrino({ name: "small", behaviour: "fail-resources" });
    const large = startStubTrino({ name: "large", behaviour: "rows", rowCount: 10 });
    const stack = await startRetryStack({
      small: loopback(small.port),
      large: loopback(large.port),
    });
    let log = "";
    try {
      const result = await runTrinoQuery(stack.envoy.url, SQL, {
        "x-trino-user": "alice",
        "x-trino-catalog": "tpch",
        "accept-encoding": "gzip",
      });
      assert.equal(result.error, undefined, JSON.stringify(result.error));
      assert.deepEqual(result.rows, expectedRows(10));
      // The marker header is dropped by Envoy when response headers are not sent to ext_proc
      // (response_header_mode: SKIP keeps one gRPC message per page); Envoy re-frames the body.
      assert.equal(result.retriedHeader, null);
      // The client went to Small first, then continued on Large through Envoy's /large route.
      assert.ok(result.uris[0].includes("/small/v1/statement/queued/"), result.uris[0]);
      assert.ok(result.uris.slice(1).every((uri) => uri.startsWith(`${stack.envoy.url}/large/`)));
      assert.equal(result.ids.length, 2);
      // Large received the same SQL and client headers, once.
      const posts = large.requests.filter((r) => r.method === "POST");
      assert.equal(posts.length, 1);
      assert.equal(posts[0].body, SQL);
      assert.equal(posts[0].headers["x-trino-user"], "alice");
      assert.equal(posts[0].headers["x-trino-catalog"], "tpch");
      // Small's request carried no accept-encoding, so its JSON was readable.
      assert.ok(small.requests.every((r) => r.headers["accept-encoding"] === undefined));
      assert.equal(await stack.retries("retried"), 1);
      assert.ok(await stack.store.isTemplateHeavy(sqlTemplateFingerprint(SQL)));
    } finally {
      log = await stack.stop();
      await small.close();
      await large.close();
    }
    assert.ok(!log.includes("big CROSS JOIN"), "no SQL in Envoy's access log");
  },
});

Deno.test({
  name: "envoy+ext_proc: a failure after rows reached the client is not retried",
  ignore,
  async fn() {
    const small = startStubTrino({ name: "small", behaviour: "rows-then-fail" });
    const large = startStubTrino({ name: "large", behaviour: "rows" });
    const stack = await startRetryStack({
      small: loopback(small.port),
      large: loopback(large.port),
    });
    try {
      const result = await runTrinoQuery(stack.envoy.url, SQL);
      assert.equal(result.error?.errorType, "INSUFFICIENT_RESOURCES");
      assert.deepEqual(result.rows, expectedRows(4));
      assert.equal(large.requests.length, 0);
      assert.equal(await stack.retries("skipped_rows_sent"), 1);
    } finally {
      await stack.stop();
      await small.close();
      await large.close();
    }
  },
});

Deno.test({
  name: "envoy+ext_proc: writes fail as they are; successful queries pass untouched",
  ignore,
  async fn() {
    const small = startStubTrino({ name: "small", behaviour: "fail-resources" });
    const large = startStubTrino({ name: "large", behaviour: "rows" });
    const stack = await startRetryStack({
      small: loopback(small.port),
      large: loopback(large.port),
    });
    const okSmall = startStubTrino({ name: "small", behaviour: "rows", rowCount: 9 });
    const okStack = await startRetryStack({
      small: loopback(okSmall.port),
      large: loopback(large.port),
    });
    try {
      const write = await runTrinoQuery(stack.envoy.url, "INSERT INTO t SELECT * FROM big");
      assert.equal(write.error?.errorType, "INSUFFICIENT_RESOURCES");
      assert.equal(large.requests.length, 0);

      const ok = await runTrinoQuery(okStack.envoy.url, SQL);
      assert.equal(ok.error, undefined);
      assert.deepEqual(ok.rows, expectedRows(9));
      assert.equal(ok.retriedHeader, null);
      assert.ok(ok.uris.every((uri) => uri.includes("/small/")));
      assert.equal(large.requests.length, 0);
    } finally {
      await stack.stop();
      await okStack.stop();
      await small.close();
      await okSmall.close();
      await large.close();
    }
  },
});

Deno.test({
  name: "envoy+ext_proc: with the ext_proc server down, queries still run (no retry)",
  ignore,
  async fn() {
    const small = startStubTrino({ name: "small", behaviour: "rows", rowCount: 6 });
    const failing = startStubTrino({ name: "small", behaviour: "fail-resources" });
    const large = startStubTrino({ name: "large", behaviour: "rows" });
    const stack = await startRetryStack({
      small: loopback(small.port),
      large: loopback(large.port),
      extProcUp: false,
    });
    const failingStack = await startRetryStack({
      small: loopback(failing.port),
      large: loopback(large.port),
      extProcUp: false,
    });
    try {
      const ok = await runTrinoQuery(stack.envoy.url, SQL);
      assert.deepEqual(ok.rows, expectedRows(6));
      const failed = await runTrinoQuery(failingStack.envoy.url, SQL);
      assert.equal(failed.error?.errorType, "INSUFFICIENT_RESOURCES");
      assert.equal(large.requests.length, 0);
    } finally {
      await stack.stop();
      await failingStack.stop();
      await small.close();
      await failing.close();
      await large.close();
    }
  },
});

Deno.test({
  name: "envoy+ext_proc: a new submission under a sticky prefix is refused, nothing reaches Small",
  ignore,
  async fn() {
    const small = startStubTrino({ name: "small", behaviour: "rows" });
    const large = startStubTrino({ name: "large", behaviour: "rows" });
    const stack = await startRetryStack({
      small: loopback(small.port),
      large: loopback(large.port),
    });
    try {
      for (const path of ["/small/v1/statement", "/small/v1/statement/executing/x/y/1"]) {
        const response = await fetch(`${stack.envoy.url}${path}?q=1`, {
          method: "POST",
          body: SQL,
        });
        assert.equal(response.status, 403, path);
        assert.match((await response.json()).error, /POST \/v1\/statement/);
      }
      assert.equal(small.requests.length, 0);
      assert.equal(large.requests.length, 0);
    } finally {
      await stack.stop();
      await small.close();
      await large.close();
    }
  },
});
