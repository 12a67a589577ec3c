/**
 * The rollout through the assembled service (in-memory store): admin authentication, modes
 * applied to decisions, decisions recorded with their mode, challenger confusion per version,
 * a guard trip through real feedback events, and the report.
 */
import assert from "node:assert/strict";
import { createService, type Service } from "../../src/service.ts";
import { ADMIN_HEADERS, capturingLogger, TEST_CONFIG } from "./_fixtures.ts";
import { completedEvent } from "./_feedback_events.ts";
import { DEFAULT_ROLLOUT_CONFIG } from "../../src/rollout/rollout_config.ts";
import { decisionJoinKey } from "../../src/sql/join_key.ts";
import type { Config } from "../../src/config.ts";

const SQL = "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'";
const json = (body: unknown, headers: Record<string, string> = ADMIN_HEADERS) => ({
  body: JSON.stringify(body),
  headers: { "content-type": "application/json", ...headers },
});

async function withService(
  fn: (service: Service, logger: ReturnType<typeof capturingLogger>) => Promise<void>,
  rollout: Partial<Config["rollout"]> = {},
  config: Partial<Config> = {},
) {
  const logger = capturingLogger();
  const service = await createService({
    ...TEST_CONFIG,
    ...config,
    rollout: { ...DEFAULT_ROLLOUT_CONFIG, featureSampleRate: 0, ...rollout },
  }, { logger });
  try {
    await fn(service, logger);
  } finally {
    await service.close();
  }
}

const route = async (service: Service, user: string, sqlText = SQL) =>
  await (await service.app.request("/v1/route", {
    method: "POST",
    ...json({
      user,
      source: "trino-cli",
      sqlText,
      sessionProperties: { catalog: "tpch", schema: "sf1" },
    }),
  })).json();

Deno.test("mode changes need the admin token; without a configured token they are disabled", async () => {
  await withService(async (service) => {
    const put = (headers: Record<string, string>) =>
      service.app.request("/v1/admin/rollout", {
        method: "PUT",
        ...json({ mode: "full" }, headers),
      });
    const anonymous = await put({});
    assert.equal(anonymous.status, 401);
    assert.match((await anonymous.json()).error, /Authorization/);
    assert.equal((await put({ authorization: "Bearer wrong" })).status, 401);
    assert.equal((await service.app.request("/v1/admin/rollout")).status, 401);
    assert.equal(service.rollout.state.mode, "shadow", "nothing changed");
  }, { mode: "shadow" });
  await withService(
    async (service) => {
      const response = await service.app.request("/v1/admin/rollout", {
        method: "PUT",
        ...json({ mode: "full" }),
      });
      assert.equal(response.status, 403);
      assert.match((await response.json()).error, /ROUTER_ADMIN_TOKEN/);
    },
    { mode: "shadow" },
    { adminToken: undefined },
  );
});

Deno.test("bad admin requests are 400s naming the problem", async () => {
  await withService(async (service) => {
    const put = (body: string, path = "/v1/admin/rollout") =>
      service.app.request(path, { method: "PUT", body, headers: ADMIN_HEADERS });
    for (
      const [body, pattern] of [
        ["{", /not valid JSON/],
        ["[]", /JSON object/],
        [JSON.stringify({ mode: "yolo" }), /mode must be one of/],
        [JSON.stringify({ canaryPercent: "10" }), /canaryPercent/],
        [JSON.stringify({ canaryPercent: 101 }), /canaryPercent/],
        [JSON.stringify({ rearm: "yes" }), /rearm/],
        [JSON.stringify({}), /nothing to change/],
      ] as const
    ) {
      const response = await put(body);
      assert.equal(response.status, 400, body);
      assert.match((await response.json()).error, pattern);
    }
    const unknown = await put(
      JSON.stringify({ modelVersion: "nope" }),
      "/v1/admin/rollout/challenger",
    );
    assert.equal(unknown.status, 400);
    assert.deepEqual((await unknown.json()).availableVersions, service.router.models.versions);
    const big = await put(JSON.stringify({ mode: "x".repeat(10_000) }));
    assert.equal(big.status, 413);
  });
});

Deno.test("shadow: the model's light is answered, recorded with its mode, but runs on Large", async () => {
  await withService(async (service) => {
    const body = await route(service, "alice");
    assert.equal(body.decision, "light");
    assert.equal(body.rolloutMode, "shadow");
    assert.equal(body.targetCluster, "large.test:8080");
    const record = await service.store.getDecision(
      decisionJoinKey({
        sqlText: SQL,
        user: "alice",
        source: "trino-cli",
        catalog: "tpch",
        schema: "sf1",
      }),
    );
    assert.equal(record?.mode, "shadow");
    assert.equal(record?.decision, "light");
    assert.equal(record?.targetCluster, "large.test:8080");
    const metrics = await (await service.app.request("/metrics")).text();
    assert.match(
      metrics,
      /trino_router_rollout_decisions_total\{mode="shadow",decision="light",applied="heavy"\} 1/,
    );
    assert.match(metrics, /trino_router_rollout_mode\{mode="shadow"\} 1/);
  }, { mode: "shadow" });
});

Deno.test("a mode change through the endpoint applies to the next decision", async () => {
  await withService(async (service) => {
    assert.equal((await route(service, "alice")).targetCluster, "large.test:8080");
    const response = await service.app.request("/v1/admin/rollout", {
      method: "PUT",
      ...json({ mode: "canary", canaryPercent: 50 }),
    });
    assert.equal(response.status, 200);
    assert.equal((await response.json()).state.mode, "canary");
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const first = await Promise.all(
      users.map(async (u) => (await route(service, u)).targetCluster),
    );
    const again = await Promise.all(
      users.map(async (u) => (await route(service, u)).targetCluster),
    );
    assert.deepEqual(again, first, "one user, one behaviour");
    const small = first.filter((t) => t === "small.test:8080").length;
    assert.ok(small > 5 && small < 35, `50 % canary put ${small}/40 users on Small`);
  }, { mode: "off" });
});

Deno.test("a burst of heavy-on-Small events trips the FNR guard: canary drops to shadow", async () => {
  await withService(async (service, logger) => {
    for (let i = 0; i < 5; i++) {
      const sqlText = `${SQL} AND o_orderkey = ${i}`;
      assert.equal((await route(service, `u${i}`, sqlText)).decision, "light");
      const event = completedEvent({
        queryId: `20250811_123456_0000${i}_aaaaa`,
        sql: sqlText,
        cpuSeconds: 900,
      });
      (event.context as Record<string, unknown>).user = `u${i}`;
      const response = await service.app.request("/v1/events/small", {
        method: "POST",
        ...json(event),
      });
      assert.equal(response.status, 200);
    }
    await service.feedback.idle();
    await service.rollout.tick();
    assert.equal(service.rollout.state.mode, "shadow");
    assert.equal(service.rollout.state.tripped?.guard, "fnr");
    assert.equal(logger.lines.filter((l) => l.includes("guard tripped")).length, 1);
    assert.equal((await route(service, "u0")).targetCluster, "large.test:8080");
    const refused = await service.app.request("/v1/admin/rollout", {
      method: "PUT",
      ...json({ mode: "canary" }),
    });
    assert.equal(refused.status, 409);
    const metrics = await (await service.app.request("/metrics")).text();
    assert.match(metrics, /trino_router_rollout_trips_total\{guard="fnr"\} 1/);
    assert.match(metrics, /trino_router_rollout_tripped 1/);
  }, {
    mode: "canary",
    canaryPercent: 100,
    guards: { ...DEFAULT_ROLLOUT_CONFIG.guards, fnr: { threshold: 0.01, minSamples: 5 } },
  });
});

Deno.test("challenger: scored beside the champion, never applied, confusion kept per version", async () => {
  await withService(async (service) => {
    const set = await service.app.request("/v1/admin/rollout/challenger", {
      method: "PUT",
      ...json({ modelVersion: "heuristic-v1" }),
    });
    assert.equal(set.status, 200);
    const body = await route(service, "alice");
    assert.equal(body.modelVersion, "tiny-xgb", "the champion decides");
    const key = decisionJoinKey({
      sqlText: SQL,
      user: "alice",
      source: "trino-cli",
      catalog: "tpch",
      schema: "sf1",
    });
    let record = await service.store.getDecision(key);
    for (let i = 0; i < 50 && !record?.challenger; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      record = await service.store.getDecision(key);
    }
    assert.equal(record?.challenger?.modelVersion, "heuristic-v1");
    const event = completedEvent({ queryId: "20250811_123456_00009_aaaaa", sql: SQL });
    await service.app.request("/v1/events/large", { method: "POST", ...json(event) });
    await service.feedback.idle();
    const confusion = service.feedback.confusion();
    assert.equal(confusion["tiny-xgb"].trueNegative, 1);
    assert.equal(confusion["heuristic-v1"].trueNegative, 1);
    const report = await (await service.app.request("/v1/admin/rollout/report", {
      headers: ADMIN_HEADERS,
    })).json();
    const names = report.criteria.map((c: { name: string }) => c.name);
    assert.ok(names.includes("challenger vs champion (live FNR, FPR)"));
    assert.ok(names.includes("featurization consistency (offline vs online)"));
    for (const c of report.criteria) assert.ok(["PASS", "FAIL", "SKIP"].includes(c.status));
  }, { mode: "shadow" });
});

Deno.test("Envoy's and Trino Gateway's answers follow the mode, not the model's class", async () => {
  await withService(async (service) => {
    const ask = async () => {
      const authz = await service.app.request("/ext_authz/v1/statement", {
        method: "POST",
        body: SQL,
        headers: { "X-Trino-User": "alice" },
      });
      const gateway = await (await service.app.request("/trino-gateway/route", {
        method: "POST",
        body: JSON.stringify({
          method: "POST",
          requestURI: "/v1/statement",
          trinoQueryProperties: { body: SQL, isNewQuerySubmission: true },
          trinoRequestUser: { user: "alice" },
        }),
      })).json();
      return [authz.headers.get("x-trino-routing-group"), gateway.routingGroup];
    };
    assert.deepEqual(await ask(), ["large", "large"], "shadow");
    await service.rollout.change({ mode: "full" }, "admin");
    assert.deepEqual(await ask(), ["small", "small"], "full");
  }, { mode: "shadow" });
});
