/**
 * The Trino Gateway external routing contract. Requests are built exactly in the gateway's JSON
 * form: `RoutingGroupExternalBody` (trinodb/trino-gateway,
 * gateway-ha/src/main/java/io/trino/gateway/ha/router/schema/RoutingGroupExternalBody.java, as
 * `ExternalRoutingGroupSelector#createRequestBody` fills it) with `trinoQueryProperties`
 * serialised from gateway-ha/src/main/java/io/trino/gateway/ha/router/TrinoQueryProperties.java
 * (its `@JsonProperty` getters) and `trinoRequestUser` from TrinoRequestUser.java; answers are
 * checked against `ExternalRouterResponse.java` (`routingGroup`, `errors`, `externalHeaders`).
 *
 * @module
 */

import assert from "node:assert/strict";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { createLogger } from "../../src/log.ts";
import { modelSetFromBundles } from "../../src/model/model_set.ts";
import { createRouter, type RouteInput, type Router } from "../../src/routing/router.ts";
import { createApp } from "../../src/server/app.ts";
import { createRouterMetrics } from "../../src/server/metrics.ts";
import { TRINO_GATEWAY_PATH, trinoGatewayApi } from "../../src/server/trino_gateway_api.ts";
import captured from "./trino_gateway_request_v21.json" with { type: "json" };

async function appWith(options: { router?: Router; small?: string; large?: string } = {}) {
  const lines: string[] = [];
  const router = options.router ?? createRouter({
    models: await modelSetFromBundles([]),
    clusters: { small: "s", large: "l" },
  });
  const app = createApp({
    config: {
      ...DEFAULT_CONFIG,
      gatewaySmallGroup: options.small ?? DEFAULT_CONFIG.gatewaySmallGroup,
      gatewayLargeGroup: options.large ?? DEFAULT_CONFIG.gatewayLargeGroup,
    },
    router,
    metrics: createRouterMetrics(),
    logger: createLogger((line) => lines.push(line)),
    recordDecision: () => {},
    storeHealth: () => ({ backend: "memory", state: "ok", circuit: "closed" }),
  }, [trinoGatewayApi]);
  return { app, lines };
}

/**
 * The JSON the gateway POSTs with `requestAnalyzerConfig.analyzeRequest: true` for a new query
 * (airlift's JSON codec omits null fields: `remoteUser`, `queryString`, `session`,
 * `errorMessage` are absent when null, as in trino_gateway_request_v21.json, captured from the
 * real gateway).
 */
function gatewayBody(sql: string, overrides: Record<string, unknown> = {}) {
  return {
    trinoQueryProperties: {
      body: sql,
      queryType: "Query",
      resourceGroupQueryType: "SELECT",
      defaultSchema: "tiny",
      tables: ["tpch.tiny.nation"],
      defaultCatalog: "tpch",
      catalogs: ["tpch"],
      schemas: ["tiny"],
      catalogSchemas: ["tpch.tiny"],
      isNewQuerySubmission: true,
      isQueryParsingSuccessful: true,
    },
    trinoRequestUser: { user: "alice", userInfo: null },
    contentType: "application/json",
    method: "POST",
    requestURI: "/v1/statement",
    remoteAddr: "127.0.0.1",
    remoteHost: "127.0.0.1",
    parameters: {},
    ...overrides,
  };
}

/** The gateway sends the client's own headers on its POST, next to its JSON content type. */
function post(body: unknown, headers: Record<string, string> = {}) {
  return new Request(`http://router${TRINO_GATEWAY_PATH}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Trino-User": "alice", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const HEAVY = "SELECT * FROM a JOIN b ON 1=1 JOIN c ON 1=1 JOIN d ON 1=1 JOIN e ON 1=1";

Deno.test("a request captured from the real gateway 21 is routed on its SQL and headers", async () => {
  let seen: RouteInput | undefined;
  const real = createRouter({
    models: await modelSetFromBundles([]),
    clusters: { small: "s", large: "l" },
  });
  const router = {
    ...real,
    route(input: RouteInput) {
      seen = input;
      return real.route(input);
    },
  } as Router;
  const { app } = await appWith({ router });
  const headers = { ...captured.headers } as Record<string, string>;
  delete headers["content-length"];
  const response = await app.fetch(
    new Request(`http://router${TRINO_GATEWAY_PATH}`, {
      method: "POST",
      headers,
      body: JSON.stringify(captured.body),
    }),
  );
  assert.deepEqual(await response.json(), {
    routingGroup: "small",
    errors: [],
    externalHeaders: {},
  });
  assert.deepEqual(seen, {
    sqlText: "SELECT count(*) FROM nation",
    user: "e2e",
    source: "envoy-e2e",
    catalog: "tpch",
    schema: "tiny",
    clientTags: ["etl", "adhoc"],
  });
});

Deno.test("a light query gets the small group, no errors, no extra headers", async () => {
  const { app } = await appWith();
  const response = await app.fetch(post(gatewayBody("SELECT * FROM nation")));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    routingGroup: "small",
    errors: [],
    externalHeaders: {},
  });
});

Deno.test("a heavy query and a write get the large group", async () => {
  const { app } = await appWith();
  for (const sql of [HEAVY, "CREATE TABLE memory.default.t AS SELECT 1 x"]) {
    const body = await (await app.fetch(post(gatewayBody(sql)))).json();
    assert.equal(body.routingGroup, "large");
    assert.deepEqual(body.errors, []);
  }
});

Deno.test("routing group names come from the configuration", async () => {
  const { app } = await appWith({ small: "adhoc", large: "etl" });
  const light = await (await app.fetch(post(gatewayBody("SELECT 1")))).json();
  const heavy = await (await app.fetch(post(gatewayBody(HEAVY)))).json();
  assert.equal(light.routingGroup, "adhoc");
  assert.equal(heavy.routingGroup, "etl");
});

Deno.test("the router's context comes from the client's headers, then the analyzer's fields", async () => {
  let seen: RouteInput | undefined;
  const router = {
    models: undefined as never,
    clusters: { small: "s", large: "l" },
    route(input: RouteInput) {
      seen = input;
      return Promise.reject(new Error("stop here"));
    },
  } as unknown as Router;
  const { app } = await appWith({ router });
  await app.fetch(post(gatewayBody("SELECT 1"), {
    "X-Trino-User": "",
    "X-Trino-Source": "trino-cli",
    "X-Trino-Client-Tags": "adhoc",
  }));
  assert.deepEqual(seen, {
    sqlText: "SELECT 1",
    user: "alice",
    source: "trino-cli",
    catalog: "tpch",
    schema: "tiny",
    clientTags: ["adhoc"],
  });
});

Deno.test("a router failure gets the large group and an errors entry, answered 200", async () => {
  const router = {
    models: undefined as never,
    clusters: { small: "s", large: "l" },
    route: () => Promise.reject(new RangeError("SELECT secret FROM t")),
  } as unknown as Router;
  const { app, lines } = await appWith({ router });
  const response = await app.fetch(post(gatewayBody("SELECT secret FROM t")));
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.routingGroup, "large");
  assert.equal(body.errors.length, 1);
  assert.match(body.errors[0], /RangeError/);
  assert.ok(lines.every((line) => !line.includes("secret")));
});

Deno.test("without the analyzer's SQL (analyzeRequest off) the answer is large with an error", async () => {
  const { app } = await appWith();
  const body = await (await app.fetch(post(gatewayBody("", { trinoQueryProperties: null }))))
    .json();
  assert.equal(body.routingGroup, "large");
  assert.match(body.errors[0], /analyzeRequest/);
});

Deno.test("a body that is not the gateway's JSON is still answered 200 with large", async () => {
  const { app } = await appWith();
  for (const text of ["not json", "[]", "null"]) {
    const response = await app.fetch(post(text));
    assert.equal(response.status, 200);
    assert.equal((await response.json()).routingGroup, "large");
  }
});

Deno.test("requests other than a new statement submission go to large without errors", async () => {
  const { app } = await appWith();
  const followUp = gatewayBody("SELECT 1", {
    method: "GET",
    requestURI: "/v1/statement/executing/20260101_000000_00000_abcde/y/1",
  });
  const body = await (await app.fetch(post(followUp))).json();
  assert.deepEqual(body, { routingGroup: "large", errors: [], externalHeaders: {} });
});

Deno.test("wrongly typed fields get 200 with the large group, never a 500 the gateway would ignore", async () => {
  const { app } = await appWith();
  const light = gatewayBody("SELECT 1");
  const cases: Record<string, unknown>[] = [
    { method: 7 },
    { method: ["POST"] },
    { requestURI: 42 },
    { requestURI: { path: "/v1/statement" } },
    { remoteUser: 1 },
    { trinoQueryProperties: "SELECT 1" },
    { trinoQueryProperties: { ...light.trinoQueryProperties, body: 12 } },
    { trinoQueryProperties: { ...light.trinoQueryProperties, defaultCatalog: 3 } },
    { trinoQueryProperties: { ...light.trinoQueryProperties, isNewQuerySubmission: "yes" } },
    { trinoRequestUser: "alice" },
    { trinoRequestUser: { user: 5 } },
  ];
  for (const overrides of cases) {
    const response = await app.fetch(post(gatewayBody("SELECT 1", overrides)));
    assert.equal(response.status, 200, JSON.stringify(overrides));
    const body = await response.json();
    assert.equal(body.routingGroup, "large", JSON.stringify(overrides));
    assert.match(body.errors[0], /wrong type/);
  }
  // The same request with well-typed fields is light: the fields, not the SQL, decided above.
  assert.equal((await (await app.fetch(post(light))).json()).routingGroup, "small");
});
