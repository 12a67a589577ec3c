// TLS on the router's own hops, against real servers on loopback with a private CA generated at
// test time: HTTPS listener, ext_proc gRPC over TLS, and Redis over TLS (`rediss://` +
// REDIS_CA_FILE), including what /readyz says when the store cannot verify Redis.
import assert from "node:assert/strict";
import { type ConfigEnv, ConfigError, configFromEnv } from "../../src/config.ts";
import { readServeMaterial, serveOptions } from "../../src/serve_options.ts";
import { serveHttp } from "../../src/server/http_listener.ts";
import { createService, type Service } from "../../src/service.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";
import { createTestPki } from "./_test_pki.ts";
import { completedEvent } from "../unit/_feedback_events.ts";
import {
  bodyOf,
  exchange,
  extProcClient,
  HEAVY_SQL,
  queued,
  submissionStream,
} from "./ext_proc_grpc_client.ts";

const silent = { info() {}, warn() {}, error() {} };
const ignoreRedis = await skipRedisTests();

async function withService<T>(env: ConfigEnv, body: (service: Service) => Promise<T>): Promise<T> {
  const config = configFromEnv(env);
  const service = await createService(config, { logger: silent });
  try {
    return await body(service);
  } finally {
    await service.close();
  }
}

async function readyz(service: Service) {
  const response = await service.app.request("/readyz");
  return { status: response.status, body: await response.json() };
}

Deno.test("rediss:// with REDIS_CA_FILE: the store verifies a private-CA Redis and works", {
  ignore: ignoreRedis,
}, async () => {
  const pki = await createTestPki();
  const redis = await RedisServer.start({ tls: pki });
  try {
    await withService({ REDIS_URL: redis.url, REDIS_CA_FILE: pki.caFile }, async (service) => {
      assert.ok(await (service.store as RedisStore).ready(5_000), "TLS connection not ready");
      // A store call has a 30 ms budget, which a loaded machine can miss now and then: retry
      // (the behaviour under test is that the data goes through TLS, not its speed).
      let stored = false;
      for (let attempt = 0; attempt < 20 && !stored; attempt++) {
        await service.store.markTemplateHeavy("fp-tls");
        stored = await service.store.isTemplateHeavy("fp-tls");
      }
      assert.ok(stored, "the mark did not round-trip through the TLS connection");
      // A missed budget can open the breaker for a moment; readiness follows it back.
      let { status, body } = await readyz(service);
      for (let attempt = 0; attempt < 30 && body.status !== "ready"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        ({ status, body } = await readyz(service));
      }
      assert.equal(status, 200);
      assert.equal(body.status, "ready");
      assert.equal(body.store.backend, "redis");
      assert.equal(body.store.state, "ok");
    });
  } finally {
    await redis.stop();
    await pki.remove();
  }
});

Deno.test("rediss:// with the wrong CA: the store stays degraded and /readyz says so", {
  ignore: ignoreRedis,
}, async () => {
  const pki = await createTestPki();
  const redis = await RedisServer.start({ tls: pki });
  try {
    await withService({ REDIS_URL: redis.url, REDIS_CA_FILE: pki.otherCaFile }, async (service) => {
      assert.equal(await (service.store as RedisStore).ready(1_500), false);
      // Routing still answers (degraded store = model-only routing), and readiness names it.
      const { status, body } = await readyz(service);
      assert.equal(status, 200);
      assert.equal(body.status, "degraded");
      assert.equal(body.store.backend, "redis");
      assert.equal(body.store.state, "degraded");
      assert.equal(typeof body.store.lastError, "string");
    });
  } finally {
    await redis.stop();
    await pki.remove();
  }
});

Deno.test("TLS_CERT_FILE/TLS_KEY_FILE: the router serves HTTPS, verifiable with the CA", async () => {
  const pki = await createTestPki();
  const config = configFromEnv({
    PORT: "0",
    TLS_CERT_FILE: pki.certFile,
    TLS_KEY_FILE: pki.keyFile,
    ROUTER_ADMIN_TOKEN: "tls-test-token",
  });
  const material = await readServeMaterial(config);
  const service = await createService(config, { logger: silent, material });
  let scheme = "";
  const server = await serveHttp(
    serveOptions(config, material, (address) => scheme = address.scheme),
    service.app.fetch,
  );
  const trusting = Deno.createHttpClient({ caCerts: [pki.ca] });
  const distrusting = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(pki.otherCaFile)],
  });
  try {
    assert.equal(scheme, "https");
    const base = `https://localhost:${server.addr.port}`;
    const response = await fetch(`${base}/v1/route`, {
      client: trusting,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sqlText: "INSERT INTO t VALUES (1)", queryId: "q-https" }),
    });
    assert.equal(response.status, 200);
    assert.equal((await response.json()).decision, "heavy");
    // The events endpoint's Bearer credential works over the TLS hop (and is still required).
    const event = JSON.stringify(completedEvent({ queryId: "q-https" }));
    const events = (authorization?: string) =>
      fetch(`${base}/v1/events/large`, {
        client: trusting,
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(authorization ? { authorization } : {}),
        },
        body: event,
      });
    const accepted = await events("Bearer tls-test-token");
    assert.equal(accepted.status, 200, await accepted.clone().text());
    assert.deepEqual(await accepted.json(), { status: "accepted" });
    const refused = await events();
    assert.equal(refused.status, 401);
    await refused.body?.cancel();
    // A client that does not trust the router's CA refuses the connection.
    await assert.rejects(fetch(`${base}/healthz`, { client: distrusting }));
    // Plain HTTP to the TLS port gets no answer.
    await assert.rejects(fetch(`http://127.0.0.1:${server.addr.port}/healthz`));
  } finally {
    trusting.close();
    distrusting.close();
    await server.shutdown();
    await service.close();
    await pki.remove();
  }
});

Deno.test("ext_proc gRPC serves TLS with the router's certificate", async () => {
  const pki = await createTestPki();
  await withService({
    EXT_PROC_PORT: "0",
    LARGE_CLUSTER_URL: "http://127.0.0.1:9",
    TLS_CERT_FILE: pki.certFile,
    TLS_KEY_FILE: pki.keyFile,
  }, async (service) => {
    const tls = extProcClient(service.extProcPort!, pki.ca);
    const plain = extProcClient(service.extProcPort!);
    try {
      const answers = await exchange(tls, submissionStream(HEAVY_SQL, queued("q-tls")));
      assert.equal(answers.length, 3);
      assert.equal(bodyOf(answers[2]), undefined);
      // A plaintext client never gets a working channel to the TLS port.
      await assert.rejects(
        new Promise<void>((resolve, reject) =>
          plain.waitForReady(Date.now() + 1_500, (error) => error ? reject(error) : resolve())
        ),
      );
    } finally {
      tls.close();
      plain.close();
    }
  });
  await pki.remove();
});

Deno.test("TLS configuration errors name the variable and stop startup", async () => {
  assert.throws(() => configFromEnv({ TLS_CERT_FILE: "/x.pem" }), ConfigError);
  assert.throws(
    () => configFromEnv({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_CA_FILE: "/ca.pem" }),
    /REDIS_CA_FILE.*rediss/,
  );
  const missing = configFromEnv({ TLS_CERT_FILE: "/nonexistent.pem", TLS_KEY_FILE: "/k.pem" });
  await assert.rejects(readServeMaterial(missing), /TLS_CERT_FILE: cannot read/);
  const notPem = await Deno.makeTempFile();
  try {
    const config = configFromEnv({ REDIS_URL: "rediss://127.0.0.1:1", REDIS_CA_FILE: notPem });
    await assert.rejects(readServeMaterial(config), /REDIS_CA_FILE: .* is not a PEM file/);
  } finally {
    await Deno.remove(notPem);
  }
});
