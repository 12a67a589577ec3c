import assert from "node:assert/strict";
import { createService } from "../../src/service.ts";
import { capturingLogger, TEST_CONFIG } from "./_fixtures.ts";

const REQUEST = {
  queryId: "20250811_123456_00012_abcde",
  user: "service-account-etl",
  source: "tableau-dashboard-x",
  sqlText: "SELECT count(*) FROM hive.logs.my_table WHERE day = '2025-08-10'",
  sessionProperties: { catalog: "hive", schema: "logs" },
};

async function withService(
  fn: (
    request: (path: string, init?: RequestInit) => Promise<Response>,
    lines: string[],
  ) => Promise<void>,
  config = TEST_CONFIG,
) {
  const logger = capturingLogger();
  const service = await createService(config, { logger });
  try {
    await fn((path, init) => Promise.resolve(service.app.request(path, init)), logger.lines);
  } finally {
    await service.close();
  }
}

const post = (body: string, headers: Record<string, string> = {}) => ({
  method: "POST",
  body,
  headers,
});

Deno.test("POST /v1/route answers the design document's contract", () =>
  withService(async (request) => {
    const response = await request("/v1/route", post(JSON.stringify(REQUEST)));
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.deepEqual(Object.keys(body).sort(), [
      "decision",
      "modelScore",
      "modelVersion",
      "queryId",
      "reason",
      "rolloutMode",
      "statementKind",
      "targetCluster",
    ]);
    assert.equal(body.queryId, REQUEST.queryId);
    assert.equal(body.decision, "light");
    assert.equal(body.targetCluster, "small.test:8080");
    assert.equal(body.rolloutMode, "full");
    assert.equal(body.modelVersion, "tiny-xgb");
    assert.equal(typeof body.modelScore, "number");
  }));

Deno.test("POST /v1/route sends a query inside a transaction to Large", () =>
  withService(async (request) => {
    const ask = async (extra: Record<string, unknown>) =>
      await (await request("/v1/route", post(JSON.stringify({ ...REQUEST, ...extra })))).json();
    assert.equal((await ask({ transactionId: "NONE" })).targetCluster, "small.test:8080");
    const inside = await ask({ transactionId: "0f3c-1" });
    assert.equal(inside.targetCluster, "large.test:8080");
    assert.equal(inside.reason, "transaction");
    const bad = await request("/v1/route", post(JSON.stringify({ ...REQUEST, transactionId: 1 })));
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "`transactionId` must be a string");
  }));

Deno.test("X-Model-Version selects a loaded version; an unknown one is a 400 naming the versions", () =>
  withService(async (request) => {
    const chosen = await request(
      "/v1/route",
      post(JSON.stringify(REQUEST), { "X-Model-Version": "heuristic-v1" }),
    );
    assert.equal((await chosen.json()).modelVersion, "heuristic-v1");
    const unknown = await request(
      "/v1/route",
      post(JSON.stringify(REQUEST), { "X-Model-Version": "v0" }),
    );
    assert.equal(unknown.status, 400);
    const body = await unknown.json();
    assert.match(body.error, /unknown model version "v0"/);
    assert.deepEqual([...body.availableVersions].sort(), ["heuristic-v1", "tiny-xgb"]);
  }));

Deno.test("malformed JSON is a 400 with an error", () =>
  withService(async (request) => {
    const response = await request("/v1/route", post("{not json"));
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), {
      error: "request body is not valid JSON",
      queryId: null,
    });
  }));

Deno.test("a missing or non-string sqlText is a 400 that names the field and echoes the queryId", () =>
  withService(async (request) => {
    for (const body of [{ queryId: "q1" }, { queryId: "q1", sqlText: ["SELECT 1"] }]) {
      const response = await request("/v1/route", post(JSON.stringify(body)));
      assert.equal(response.status, 400);
      const json = await response.json();
      assert.match(json.error, /sqlText/);
      assert.equal(json.queryId, "q1");
    }
  }));

Deno.test("wrongly typed context fields are a 400 naming the field", () =>
  withService(async (request) => {
    const cases: Array<[object, RegExp]> = [
      [{ ...REQUEST, user: 7 }, /`user` must be a string/],
      [{ ...REQUEST, sessionProperties: { catalog: 1 } }, /sessionProperties.catalog/],
      [{ ...REQUEST, sessionProperties: [] }, /sessionProperties/],
      [{ ...REQUEST, clientTags: "a,b" }, /clientTags/],
      [[REQUEST], /JSON object/],
    ];
    for (const [body, error] of cases) {
      const response = await request("/v1/route", post(JSON.stringify(body)));
      assert.equal(response.status, 400);
      assert.match((await response.json()).error, error);
    }
  }));

Deno.test("a body over the limit is a 413 and the service keeps answering", () =>
  withService(async (request) => {
    const huge = JSON.stringify({
      ...REQUEST,
      sqlText: "SELECT '" + "x".repeat(2 * 1024 * 1024) + "'",
    });
    const response = await request("/v1/route", post(huge));
    assert.equal(response.status, 413);
    assert.match((await response.json()).error, /exceeds 1048576 bytes/);
    assert.equal((await request("/v1/route", post(JSON.stringify(REQUEST)))).status, 200);
  }));

Deno.test("a model failure is a 500 with the design's error body, and the service keeps serving", () =>
  withService(async (request) => {
    const logger = capturingLogger();
    const service = await createService(TEST_CONFIG, { logger });
    const model = service.router.models.get();
    const original = model.scorer.score;
    (model.scorer as { score: typeof original }).score = () =>
      Promise.reject(new Error("wasm trap"));
    const failed = await service.app.request("/v1/route", post(JSON.stringify(REQUEST)));
    assert.equal(failed.status, 500);
    assert.deepEqual(await failed.json(), {
      error: "Inference engine failed",
      queryId: REQUEST.queryId,
    });
    (model.scorer as { score: typeof original }).score = original;
    assert.equal(
      (await service.app.request("/v1/route", post(JSON.stringify(REQUEST)))).status,
      200,
    );
    const metrics = await (await service.app.request("/metrics")).text();
    assert.match(metrics, /trino_router_fallbacks_total\{cause="inference-error"\} 1/);
    await service.close();
    assert.equal((await request("/healthz")).status, 200);
  }));

Deno.test("hostile SQL gets a decision", () =>
  withService(async (request) => {
    const hostile = [
      "SELECT " + "(".repeat(5000) + "1" + ")".repeat(5000),
      "SELECT * FROM t WHERE x IN (" + Array.from({ length: 100_000 }, (_, i) => i).join(",") + ")",
    ];
    for (const sqlText of hostile) {
      const response = await request("/v1/route", post(JSON.stringify({ ...REQUEST, sqlText })));
      assert.equal(response.status, 200);
      assert.equal((await response.json()).reason, "parse-fallback");
    }
    // The lexer drops control bytes, so the template (what is parsed) is `select from t`.
    const nul = await request(
      "/v1/route",
      post(JSON.stringify({ ...REQUEST, sqlText: "SELECT \u0000 FROM t" })),
    );
    assert.equal(nul.status, 200);
    assert.equal((await nul.json()).reason, "model");
    const invalidUtf8 = new Uint8Array([
      ...new TextEncoder().encode('{"sqlText": "SELECT '),
      0xff,
      0xfe,
      ...new TextEncoder().encode('"}'),
    ]);
    const response = await request("/v1/route", { method: "POST", body: invalidUtf8 });
    assert.equal(response.status, 200);
  }));

Deno.test("SQL text never appears in any log line", () =>
  withService(async (request, lines) => {
    const secret = "SELECT ssn FROM secret_table_xyz WHERE name = 'Alice Secret'";
    await request("/v1/route", post(JSON.stringify({ ...REQUEST, sqlText: secret })));
    await request("/v1/route", post(JSON.stringify({ ...REQUEST, sqlText: secret, user: 42 })));
    await request(
      "/v1/route",
      post(JSON.stringify({ ...REQUEST, sqlText: secret }), { "X-Model-Version": "nope" }),
    );
    assert.ok(lines.length >= 2);
    for (const line of lines) {
      assert.ok(!line.includes("secret_table_xyz") && !line.includes("Alice Secret"), line);
    }
  }));

Deno.test("health, readiness and the model list answer", () =>
  withService(async (request) => {
    assert.deepEqual(await (await request("/healthz")).json(), { status: "ok" });
    const ready = await request("/readyz");
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).defaultVersion, "tiny-xgb");
    const models = await (await request("/v1/models")).json();
    assert.equal(models.defaultVersion, "tiny-xgb");
    assert.deepEqual(models.models.map((m: { version: string }) => m.version).sort(), [
      "heuristic-v1",
      "tiny-xgb",
    ]);
  }));

Deno.test("metrics count requests, decisions and latencies in Prometheus format", () =>
  withService(async (request) => {
    await request("/v1/route", post(JSON.stringify(REQUEST)));
    await request("/v1/route", post(JSON.stringify(REQUEST)));
    await request(
      "/v1/route",
      post(JSON.stringify({ ...REQUEST, sqlText: "INSERT INTO t VALUES 1" })),
    );
    await request("/v1/route", post("{"));
    const response = await request("/metrics");
    assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
    const text = await response.text();
    assert.match(
      text,
      /trino_router_http_requests_total\{route="\/v1\/route",method="POST",status="200"\} 3/,
    );
    assert.match(
      text,
      /trino_router_http_requests_total\{route="\/v1\/route",method="POST",status="400"\} 1/,
    );
    assert.match(
      text,
      /trino_router_decisions_total\{decision="light",reason="model",model_version="tiny-xgb"\} 2/,
    );
    assert.match(
      text,
      /trino_router_decisions_total\{decision="heavy",reason="write-statement",model_version="tiny-xgb"\} 1/,
    );
    assert.match(text, /trino_router_decision_cache_hits_total 1/);
    assert.match(text, /trino_router_featurize_duration_seconds_count 2/);
    assert.match(text, /trino_router_inference_duration_seconds_count 1/);
    assert.match(text, /trino_router_model_score_count\{model_version="tiny-xgb"\} 2/);
  }));

Deno.test("an unknown path is a 404 with a JSON error", () =>
  withService(async (request) => {
    const response = await request("/v2/nothing");
    assert.equal(response.status, 404);
    assert.match((await response.json()).error, /no route/);
  }));
