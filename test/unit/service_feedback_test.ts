/**
 * The feedback loop through the assembled service: a decision made without Trino's query id
 * (as Envoy asks) joins its completion event, and a resource failure on Small sends the next
 * query of the same template to Large.
 */
import assert from "node:assert/strict";
import { createService } from "../../src/service.ts";
import { ADMIN_HEADERS, capturingLogger, TEST_CONFIG } from "./_fixtures.ts";
import { completedEvent } from "./_feedback_events.ts";

const SQL = "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'";
const context = {
  user: "alice",
  source: "trino-cli",
  sessionProperties: { catalog: "tpch", schema: "sf1" },
};
const post = (body: unknown) => ({
  method: "POST",
  body: JSON.stringify(body),
  headers: ADMIN_HEADERS,
});

Deno.test("a decision made before Trino assigned the query id joins the completion event", async () => {
  const service = await createService(TEST_CONFIG, { logger: capturingLogger() });
  try {
    const routed =
      await (await service.app.request("/v1/route", post({ ...context, sqlText: SQL }))).json();
    assert.equal(routed.decision, "light");
    const event = completedEvent({
      queryId: "20250811_123456_00001_aaaaa",
      sql: SQL,
      cpuSeconds: 900,
    });
    const response = await service.app.request("/v1/events/small", post(event));
    assert.equal(response.status, 200);
    await service.feedback.idle();
    const counts = service.feedback.confusion()["tiny-xgb"];
    assert.equal(counts.falseNegative, 1, "predicted light, was heavy by CPU");
    const metrics = await (await service.app.request("/metrics")).text();
    assert.match(
      metrics,
      /trino_router_feedback_false_negative_rate\{model_version="tiny-xgb"\} 1/,
    );
  } finally {
    await service.close();
  }
});

Deno.test("a resource failure on Small sends the next query of its template to Large", async () => {
  const service = await createService(TEST_CONFIG, { logger: capturingLogger() });
  try {
    const first = await (await service.app.request("/v1/route", post({ ...context, sqlText: SQL })))
      .json();
    assert.equal(first.targetCluster, "small.test:8080");
    const failed = completedEvent({
      queryId: "20250811_123456_00002_aaaaa",
      sql: SQL,
      error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
    });
    assert.equal((await service.app.request("/v1/events/small", post(failed))).status, 200);
    await service.feedback.idle();
    const nextDay = SQL.replace("2025-08-10", "2025-08-11");
    const second =
      await (await service.app.request("/v1/route", post({ ...context, sqlText: nextDay }))).json();
    assert.equal(second.reason, "template-cache");
    assert.equal(second.targetCluster, "large.test:8080");
  } finally {
    await service.close();
  }
});

Deno.test("POST /v1/route cannot overwrite the decision recorded for another query", async () => {
  const service = await createService(TEST_CONFIG, { logger: capturingLogger() });
  try {
    const queryId = "20250811_123456_00003_aaaaa";
    const routed = await (await service.app.request(
      "/v1/route",
      post({ ...context, queryId, sqlText: SQL }),
    )).json();
    assert.equal(routed.decision, "light");
    // An attacker reuses the query id with other SQL (heavy: a write) to plant a record.
    const planted = await service.app.request(
      "/v1/route",
      post({ ...context, queryId, sqlText: "INSERT INTO t SELECT * FROM orders" }),
    );
    assert.equal((await planted.json()).decision, "heavy");
    const event = completedEvent({ queryId, sql: SQL, cpuSeconds: 900 });
    await service.app.request("/v1/events/small", post(event));
    await service.feedback.idle();
    // The event joined the router's decision for its own SQL: predicted light, was heavy.
    assert.deepEqual(service.feedback.confusion()["tiny-xgb"], {
      truePositive: 0,
      falseNegative: 1,
      trueNegative: 0,
      falsePositive: 0,
    });
  } finally {
    await service.close();
  }
});

Deno.test("the Small cluster's event name comes from SMALL_CLUSTER_NAME", async () => {
  const config = { ...TEST_CONFIG, smallClusterName: "adhoc", largeClusterName: "batch" };
  const service = await createService(config, { logger: capturingLogger() });
  try {
    await service.app.request("/v1/route", post({ ...context, sqlText: SQL }));
    const failed = completedEvent({
      queryId: "20250811_123456_00004_aaaaa",
      sql: SQL,
      error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
    });
    assert.equal((await service.app.request("/v1/events/small", post(failed))).status, 400);
    assert.equal((await service.app.request("/v1/events/adhoc", post(failed))).status, 200);
    await service.feedback.idle();
    assert.equal(service.feedback.stats().templateMarks, 1);
    const next = await (await service.app.request(
      "/v1/route",
      post({ ...context, sqlText: SQL.replace("2025-08-10", "2025-08-12") }),
    )).json();
    assert.equal(next.reason, "template-cache");
  } finally {
    await service.close();
  }
});
