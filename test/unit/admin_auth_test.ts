/**
 * The admin-auth contract: state-changing endpoints need `Authorization: Bearer
 * <ROUTER_ADMIN_TOKEN>`; an unset token disables them; a forged event changes nothing.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { configFromEnv } from "../../src/config.ts";
import { requireAdmin } from "../../src/server/admin_auth.ts";
import { createService } from "../../src/service.ts";
import { completedEvent, routeBodyFor } from "./_feedback_events.ts";
import { ADMIN_HEADERS, capturingLogger, TEST_ADMIN_TOKEN, TEST_CONFIG } from "./_fixtures.ts";

function guarded(token: string | undefined) {
  let reached = 0;
  const app = new Hono().post("/admin/x", requireAdmin(token), (c) => {
    reached++;
    return c.json({ ok: true });
  });
  const call = (authorization?: string) =>
    app.request("/admin/x", {
      method: "POST",
      headers: authorization === undefined ? {} : { authorization },
    });
  return { call, reached: () => reached };
}

Deno.test("the admin token comes from ROUTER_ADMIN_TOKEN; empty means unset", () => {
  assert.equal(configFromEnv({ ROUTER_ADMIN_TOKEN: "abc" }).adminToken, "abc");
  assert.equal(configFromEnv({ ROUTER_ADMIN_TOKEN: "" }).adminToken, undefined);
  assert.equal(configFromEnv({}).adminToken, undefined);
});

Deno.test("the right bearer token passes; the scheme is case-insensitive", async () => {
  const { call, reached } = guarded("s3cret-token");
  assert.equal((await call("Bearer s3cret-token")).status, 200);
  assert.equal((await call("bearer s3cret-token")).status, 200);
  assert.equal(reached(), 2);
});

Deno.test("a missing, malformed or wrong token is answered 401 JSON and never reaches the handler", async () => {
  const { call, reached } = guarded("s3cret-token");
  for (
    const header of [
      undefined,
      "",
      "s3cret-token",
      "Basic czNjcmV0LXRva2Vu",
      "Bearer",
      "Bearer s3cret-token extra",
      "Bearer s3cret-tokeN",
      "Bearer s3cret-token-and-more",
      "Bearer s3cret",
    ]
  ) {
    const response = await call(header);
    assert.equal(response.status, 401, String(header));
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
    assert.equal(typeof (await response.json()).error, "string");
  }
  assert.equal(reached(), 0);
});

Deno.test("an unset token disables the endpoint with 403 naming ROUTER_ADMIN_TOKEN", async () => {
  for (const token of [undefined, ""]) {
    const { call, reached } = guarded(token);
    for (const header of [undefined, "Bearer ", "Bearer undefined", "Bearer anything"]) {
      const response = await call(header);
      assert.equal(response.status, 403);
      const body = await response.json();
      assert.match(body.error, /disabled: set ROUTER_ADMIN_TOKEN/);
    }
    assert.equal(reached(), 0);
  }
});

Deno.test("a forged completion event without the token changes no router state", async () => {
  const service = await createService(TEST_CONFIG, { logger: capturingLogger() });
  try {
    const sql = "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'";
    const route = async () =>
      await (await service.app.request("/v1/route", {
        method: "POST",
        body: routeBodyFor(sql),
      })).json();
    assert.equal((await route()).targetCluster, "small.test:8080");
    const forged = completedEvent({
      queryId: "20250811_123456_00009_aaaaa",
      sql,
      error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
    });
    for (const headers of [{}, { authorization: "Bearer guess" }] as Record<string, string>[]) {
      const response = await service.app.request("/v1/events/small", {
        method: "POST",
        body: JSON.stringify(forged),
        headers,
      });
      assert.equal(response.status, 401);
    }
    await service.feedback.idle();
    assert.deepEqual(service.feedback.stats().events, {});
    assert.equal(service.feedback.stats().templateMarks, 0);
    assert.equal((await route()).targetCluster, "small.test:8080");
    // The same event with the token is taken (the control that shows the forged one could land).
    const response = await service.app.request("/v1/events/small", {
      method: "POST",
      body: JSON.stringify(forged),
      headers: ADMIN_HEADERS,
    });
    assert.equal(response.status, 200);
    await service.feedback.idle();
    assert.equal(service.feedback.stats().templateMarks, 1);
  } finally {
    await service.close();
  }
});

Deno.test("a service without ROUTER_ADMIN_TOKEN refuses events with 403", async () => {
  const service = await createService({ ...TEST_CONFIG, adminToken: undefined }, {
    logger: capturingLogger(),
  });
  try {
    const response = await service.app.request("/v1/events/small", {
      method: "POST",
      body: JSON.stringify(completedEvent({ queryId: "q1" })),
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    });
    assert.equal(response.status, 403);
    assert.match((await response.json()).error, /ROUTER_ADMIN_TOKEN/);
  } finally {
    await service.close();
  }
});
