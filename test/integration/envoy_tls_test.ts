// TLS on both of Envoy's hops with real Envoy: Trino clients → Envoy (DownstreamTlsContext) and
// Envoy → router ext_authz (UpstreamTlsContext verifying the router's certificate against a private
// CA). A router whose certificate does not verify is a failed router: the query goes to Large.
import assert from "node:assert/strict";
import { configFromEnv } from "../../src/config.ts";
import { readServeMaterial, serveOptions } from "../../src/serve_options.ts";
import { serveHttp } from "../../src/server/http_listener.ts";
import { createService } from "../../src/service.ts";
import { envoyInstalled, EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import { TrinoStub } from "./envoy_trino_stub.ts";
import { HEAVY_SQL, LIGHT_SQL } from "./envoy_harness.ts";
import { createTestPki, type TestPki } from "./_test_pki.ts";
import { startRetryStack } from "./ext_proc_envoy.ts";
import { expectedRows, runTrinoQuery, startStubTrino } from "./ext_proc_stub_trino.ts";

const ignore = !(await envoyInstalled()) && !Deno.env.get("CI");
const silent = { info() {}, warn() {}, error() {} };

/** The real service over HTTPS on loopback, counting the requests that reached it. */
async function httpsRouter(pki: TestPki) {
  const models = await Deno.makeTempDir({ prefix: "router-models-" });
  const config = configFromEnv({
    PORT: "0",
    MODELS_DIR: models,
    TLS_CERT_FILE: pki.certFile,
    TLS_KEY_FILE: pki.keyFile,
  });
  const material = await readServeMaterial(config);
  const service = await createService(config, { logger: silent, material });
  let requests = 0;
  const server = await serveHttp(serveOptions(config, material), (request) => {
    requests++;
    return service.app.fetch(request);
  });
  return {
    port: server.addr.port,
    get requests() {
      return requests;
    },
    async stop() {
      await server.shutdown();
      await service.close();
      await Deno.remove(models, { recursive: true });
    },
  };
}

async function submit(envoy: EnvoyProcess, client: Deno.HttpClient, sql: string) {
  const response = await fetch(`${envoy.url}/v1/statement`, {
    client,
    method: "POST",
    headers: { "X-Trino-User": "test" },
    body: sql,
  });
  assert.equal(response.status, 200);
  const id: string = (await response.json()).id;
  return id.endsWith("_small") ? "small" : id.endsWith("_large") ? "large" : id;
}

async function withEnvoy(
  routerCaFile: (pki: TestPki) => string,
  body: (
    envoy: EnvoyProcess,
    client: Deno.HttpClient,
    router: Awaited<ReturnType<typeof httpsRouter>>,
  ) => Promise<void>,
) {
  const pki = await createTestPki();
  const router = await httpsRouter(pki);
  const small = await TrinoStub.start("small");
  const large = await TrinoStub.start("large");
  const client = Deno.createHttpClient({ caCerts: [pki.ca] });
  const host = "127.0.0.1";
  let envoy: EnvoyProcess | undefined;
  try {
    envoy = await EnvoyProcess.start({
      router: { host, port: router.port },
      small: { host, port: small.port },
      large: { host, port: large.port },
      routerTls: { caFile: routerCaFile(pki), serverName: "localhost" },
      listenerTls: { certFile: pki.certFile, keyFile: pki.keyFile },
    });
    await body(envoy, client, router);
  } finally {
    client.close();
    await envoy?.stop();
    await Promise.all([router.stop(), small.stop(), large.stop()]);
    await pki.remove();
  }
}

Deno.test("Envoy over TLS: clients → Envoy → router (verified) → Small or Large", {
  ignore,
}, async () => {
  await withEnvoy((pki) => pki.caFile, async (envoy, client, router) => {
    assert.ok(envoy.url.startsWith("https://"));
    assert.equal(await submit(envoy, client, LIGHT_SQL), "small");
    assert.equal(await submit(envoy, client, HEAVY_SQL), "large");
    assert.equal(router.requests, 2);
    // Plain HTTP to the TLS listener is not served.
    await assert.rejects(fetch(`http://127.0.0.1:${envoy.port}/v1/statement`, {
      method: "POST",
      body: LIGHT_SQL,
    }));
  });
});

Deno.test("Envoy over TLS: a router certificate that does not verify → Large, router unasked", {
  ignore,
}, async () => {
  await withEnvoy((pki) => pki.otherCaFile, async (envoy, client, router) => {
    assert.equal(await submit(envoy, client, LIGHT_SQL), "large");
    assert.equal(router.requests, 0);
  });
});

Deno.test("Envoy → ext_proc over TLS (ALPN h2): Small's resource failure is retried on Large", {
  ignore,
}, async () => {
  const pki = await createTestPki();
  const small = startStubTrino({ name: "small", behaviour: "fail-resources" });
  const large = startStubTrino({ name: "large", behaviour: "rows", rowCount: 3 });
  const stack = await startRetryStack({
    small: { host: "127.0.0.1", port: small.port },
    large: { host: "127.0.0.1", port: large.port },
    tls: {
      cert: await Deno.readTextFile(pki.certFile),
      key: await Deno.readTextFile(pki.keyFile),
      caFile: pki.caFile,
    },
  });
  try {
    const result = await runTrinoQuery(
      stack.envoy.url,
      "SELECT n FROM big CROSS JOIN other",
      { "x-trino-user": "alice" },
    );
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.deepEqual(result.rows, expectedRows(3));
    assert.equal(await stack.retries("retried"), 1);
  } finally {
    await stack.stop();
    await Promise.all([small.close(), large.close()]);
    await pki.remove();
  }
});
