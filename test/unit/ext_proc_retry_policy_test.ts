import assert from "node:assert/strict";
import {
  decideRetry,
  isRetryableSql,
  largeRetryHeaders,
  submissionHeaders,
  summarizeTrinoResponse,
} from "../../src/ext_proc/retry_policy.ts";

const failed = JSON.stringify({
  id: "20250811_000000_00001_small",
  infoUri: "http://envoy:8080/small/ui/query.html?20250811_000000_00001_small",
  stats: { state: "FAILED" },
  error: {
    message: "Query exceeded per-node memory limit of 64MB",
    errorCode: 131079,
    errorName: "EXCEEDED_LOCAL_MEMORY_LIMIT",
    errorType: "INSUFFICIENT_RESOURCES",
  },
});
const submission = { sqlText: "SELECT count(*) FROM lineitem", headers: { "x-trino-user": "a" } };

Deno.test("summarize: a failed response names the query and its error type", () => {
  const summary = summarizeTrinoResponse(failed, true);
  assert.deepEqual(summary, {
    queryId: "20250811_000000_00001_small",
    hasData: false,
    finished: true,
    errorType: "INSUFFICIENT_RESOURCES",
    errorName: "EXCEEDED_LOCAL_MEMORY_LIMIT",
  });
});

Deno.test("summarize: data pages, empty data and unfinished responses", () => {
  const page = summarizeTrinoResponse('{"id":"q","nextUri":"http://x/1","data":[[1],[2]]}', true);
  assert.equal(page?.hasData, true);
  assert.equal(page?.finished, false);
  const empty = summarizeTrinoResponse('{"id":"q","nextUri":"http://x/1","data":[]}', true);
  assert.equal(empty?.hasData, false);
  const columnsOnly = summarizeTrinoResponse('{"id":"q","columns":[],"nextUri":"u"}', true);
  assert.equal(columnsOnly?.hasData, false);
});

Deno.test("summarize: non-protocol bodies are ignored", () => {
  for (const body of ["", "<html></html>", "Query not found", "[]", "null", '{"id":5}', "{"]) {
    assert.equal(summarizeTrinoResponse(body, true), undefined, body);
  }
});

Deno.test("summarize: a body cut at Envoy's buffer limit counts as a data page", () => {
  const cut = '{"id":"20250811_000000_00002_small","infoUri":"http://x","data":[[1],[2';
  assert.deepEqual(summarizeTrinoResponse(cut, false), {
    queryId: "20250811_000000_00002_small",
    hasData: true,
    finished: false,
  });
  assert.equal(summarizeTrinoResponse("<html>", false), undefined);
});

Deno.test("decide: retry only a read whose resource error came before any row", () => {
  const summary = summarizeTrinoResponse(failed, true)!;
  assert.equal(decideRetry(summary, { rowsSent: false, submission }), "retry");
  assert.equal(decideRetry(summary, { rowsSent: true, submission }), "skipped_rows_sent");
  assert.equal(
    decideRetry(summary, { rowsSent: false, submission: undefined }),
    "skipped_unknown_query",
  );
  const write = { sqlText: "INSERT INTO t SELECT * FROM u", headers: {} };
  assert.equal(decideRetry(summary, { rowsSent: false, submission: write }), "skipped_not_read");
  const withRows = { ...summary, hasData: true };
  assert.equal(decideRetry(withRows, { rowsSent: false, submission }), "skipped_rows_sent");
});

Deno.test("decide: other failures and successes pass through", () => {
  const userError = summarizeTrinoResponse(
    '{"id":"q","error":{"errorName":"SYNTAX_ERROR","errorType":"USER_ERROR"}}',
    true,
  )!;
  assert.equal(decideRetry(userError, { rowsSent: false, submission }), "no-resource-error");
  const ok = summarizeTrinoResponse('{"id":"q","nextUri":"u"}', true)!;
  assert.equal(decideRetry(ok, { rowsSent: false, submission }), "no-resource-error");
  // The error *type* decides, whatever the name (EXCEEDED_TIME_LIMIT, QUERY_QUEUE_FULL, ...).
  const named = summarizeTrinoResponse(
    '{"id":"q","error":{"errorName":"SOMETHING_NEW","errorType":"INSUFFICIENT_RESOURCES"}}',
    true,
  )!;
  assert.equal(decideRetry(named, { rowsSent: false, submission }), "retry");
});

Deno.test("retryable statements: reads only", () => {
  for (
    const sql of [
      "SELECT 1",
      "with a as (select 1) select * from a",
      "VALUES 1",
      "TABLE t",
      "EXPLAIN ANALYZE SELECT 1",
    ]
  ) {
    assert.ok(isRetryableSql(sql), sql);
  }
  for (
    const sql of [
      "INSERT INTO t VALUES 1",
      "CREATE TABLE t AS SELECT 1",
      "DELETE FROM t",
      "SET SESSION query_max_memory = '1GB'",
      "CALL system.flush()",
      "EXPLAIN ANALYZE INSERT INTO t VALUES 1",
      "SHOW TABLES",
      "",
      "garbage",
    ]
  ) {
    assert.ok(!isRetryableSql(sql), sql);
  }
});

Deno.test("submission headers keep Trino's client headers and the origin, not credentials", () => {
  const kept = submissionHeaders({
    ":method": "POST",
    ":path": "/v1/statement",
    ":authority": "envoy.example:8080",
    "x-forwarded-proto": "https",
    "x-trino-user": "alice",
    "x-trino-session": "a=1, b=2",
    "x-trino-catalog": "tpch",
    "x-trino-routing-group": "small",
    "x-trino-router-score": "0.1",
    "user-agent": "trino-cli",
    authorization: "Basic c2VjcmV0",
    cookie: "s=1",
    "x-request-id": "r",
    "x-trino-extra-credential": "s3.secret-key=s3cret",
    "x-trino-prepared-statement": "p1=SELECT+1",
    "x-trino-something-new": "x",
  });
  assert.deepEqual(kept, {
    host: "envoy.example:8080",
    "x-forwarded-proto": "https",
    "x-trino-user": "alice",
    "x-trino-session": "a=1, b=2",
    "x-trino-catalog": "tpch",
    "user-agent": "trino-cli",
  });
});

Deno.test("retry headers point Large's nextUri back through Envoy's /large route", () => {
  const stored = {
    sqlText: "SELECT 1",
    headers: { host: "envoy:8080", "x-forwarded-proto": "https", "x-trino-user": "alice" },
  };
  assert.deepEqual(largeRetryHeaders(stored), {
    "x-trino-user": "alice",
    "content-type": "text/plain; charset=utf-8",
    "x-forwarded-host": "envoy:8080",
    "x-forwarded-proto": "https",
    "x-forwarded-prefix": "/large",
  });
  const configured = largeRetryHeaders(stored, { host: "trino.example.com", proto: "http" });
  assert.equal(configured["x-forwarded-host"], "trino.example.com");
  assert.equal(configured["x-forwarded-proto"], "http");
  // A proxy in front of Envoy already set X-Forwarded-Host: Small used it, so does Large.
  const proxied = largeRetryHeaders({
    sqlText: "SELECT 1",
    headers: { host: "envoy:8080", "x-forwarded-host": "public.example" },
  });
  assert.equal(proxied["x-forwarded-host"], "public.example");
  assert.equal(proxied["x-forwarded-proto"], "http");
});
