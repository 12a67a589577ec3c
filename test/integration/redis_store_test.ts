import assert from "node:assert/strict";
import { RedisStore, type RedisStoreOptions } from "../../src/store/redis_store.ts";
import { createStore } from "../../src/store/mod.ts";
import { decision, runStoreContract } from "../unit/_store_contract.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();
// ioredis keeps reconnect timers and sockets of its own; each test closes its stores explicitly.
const sanitize = { sanitizeOps: false, sanitizeResources: false } as const;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let prefixes = 0;
/** A store on `server` with its own key prefix, so tests sharing a server never see each other. */
async function openStore(
  server: RedisServer,
  options: Partial<RedisStoreOptions> = {},
): Promise<RedisStore> {
  const store = new RedisStore({
    url: server.url,
    keyPrefix: `tsr-test-${Date.now()}-${prefixes++}:`,
    log: () => {},
    ...options,
  });
  assert.equal(await store.ready(), true, "store did not connect");
  return store;
}

Deno.test({
  name: "the Redis store fulfils the store contract",
  ignore,
  ...sanitize,
  async fn(t) {
    const server = await RedisServer.start();
    try {
      await runStoreContract(t, async (ttls) => {
        // No local copies here: the contract must hold for what Redis itself stores (history
        // epochs, which delay what a read sees, have their own test: redis_history_epoch_test).
        const store = await openStore(server, { ttls, localMaxEntries: 0, historyEpochMs: 0 });
        return { store, elapse: sleep };
      });
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "two replicas on one Redis share decisions, heavy templates and counters",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    const a = await openStore(server);
    const b = await openStore(server, { keyPrefix: undefined });
    const shared = await openStore(server, { keyPrefix: "tsr-shared:" });
    const other = await openStore(server, { keyPrefix: "tsr-shared:" });
    try {
      await shared.putDecision("q1", decision("q1", { decision: "heavy" }));
      await shared.markTemplateHeavy("aaaaaaaaaaaaaaaa");
      await shared.incrementCounter("events", 2);
      await other.incrementCounter("events", 1);
      assert.equal((await other.getDecision("q1"))?.decision, "heavy");
      assert.equal(await other.isTemplateHeavy("aaaaaaaaaaaaaaaa"), true);
      assert.deepEqual(await shared.readCounters(), { events: 3 });
      // Different prefixes are different namespaces.
      assert.equal(await a.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
      assert.equal(await b.getDecision("q1"), undefined);
    } finally {
      await Promise.all([a, b, shared, other].map((s) => s.close()));
      await server.stop();
    }
  },
});

Deno.test({
  name: "of two replicas racing to take one submission exactly one gets it",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    const a = await openStore(server, { keyPrefix: "tsr-race:" });
    const b = await openStore(server, { keyPrefix: "tsr-race:" });
    const writer = await openStore(server, { keyPrefix: "tsr-race:" });
    try {
      for (let i = 0; i < 50; i++) {
        await writer.putSubmission(`q${i}`, { sqlText: `SELECT ${i}`, headers: {} });
        const got = await Promise.all([a.takeSubmission(`q${i}`), b.takeSubmission(`q${i}`)]);
        assert.equal(got.filter((s) => s !== undefined).length, 1, `query q${i}`);
      }
    } finally {
      await Promise.all([a, b, writer].map((s) => s.close()));
      await server.stop();
    }
  },
});

Deno.test({
  name: "a replica's own copy of a submission never beats another replica's take",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    // Default options: both keep local copies; the writer is also a taker.
    const writer = await openStore(server, { keyPrefix: "tsr-own:", localMaxEntries: undefined });
    const other = await openStore(server, { keyPrefix: "tsr-own:", localMaxEntries: undefined });
    try {
      await writer.putSubmission("q1", { sqlText: "SELECT 1", headers: {} });
      assert.equal((await other.takeSubmission("q1"))?.sqlText, "SELECT 1");
      assert.equal(await writer.takeSubmission("q1"), undefined);
    } finally {
      await Promise.all([writer, other].map((s) => s.close()));
      await server.stop();
    }
  },
});

Deno.test({
  name: "while Redis is away a replica still takes the submission it stored itself",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    const store = await openStore(server, { keyPrefix: "tsr-away:" });
    try {
      await store.putSubmission("q1", { sqlText: "SELECT 1", headers: {} });
      await server.kill();
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(store.health().state, "degraded");
      assert.equal((await store.takeSubmission("q1"))?.sqlText, "SELECT 1");
      assert.equal(await store.takeSubmission("q1"), undefined);
    } finally {
      await store.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "the Redis store keys are namespaced and carry a TTL",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    const store = await openStore(server, { keyPrefix: "tsr:" });
    const { Redis } = await import("ioredis");
    const raw = new Redis(server.url);
    try {
      await store.putDecision("q1", decision("q1"));
      await store.markTemplateHeavy("aaaaaaaaaaaaaaaa");
      await store.putSubmission("q1", { sqlText: "SELECT 1", headers: {} });
      await store.incrementCounter("events");
      assert.deepEqual((await raw.keys("*")).sort(), [
        "tsr:counters",
        "tsr:decision:q1",
        "tsr:submission:q1",
        "tsr:template:aaaaaaaaaaaaaaaa",
      ]);
      const ttl = await raw.pttl("tsr:decision:q1");
      assert.ok(ttl > 3_590_000 && ttl <= 3_600_000, `decision TTL ${ttl}`);
      const templateTtl = await raw.pttl("tsr:template:aaaaaaaaaaaaaaaa");
      assert.ok(templateTtl > 86_390_000 && templateTtl <= 86_400_000, `template ${templateTtl}`);
    } finally {
      raw.disconnect();
      await store.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "a store whose Redis is unreachable at start answers at once and connects later",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    await server.kill();
    const lines: Record<string, unknown>[] = [];
    const store = createStore({
      redisUrl: server.url,
      keyPrefix: "tsr-late:",
      log: (line) => lines.push(line),
    });
    try {
      const started = performance.now();
      assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
      await store.markTemplateHeavy("aaaaaaaaaaaaaaaa");
      assert.ok(performance.now() - started < 5, "calls waited for a dead Redis");
      await sleep(300);
      assert.equal(store.health().state, "degraded");
      assert.ok(lines.some((line) => line.msg === "store degraded"));
      await server.restart();
      await (store as RedisStore).ready(3_000);
      assert.equal(store.health().state, "ok");
      await store.markTemplateHeavy("bbbbbbbbbbbbbbbb");
      const other = await openStore(server, { keyPrefix: "tsr-late:" });
      assert.equal(await other.isTemplateHeavy("bbbbbbbbbbbbbbbb"), true);
      await other.close();
      assert.ok(lines.some((line) => line.msg === "store recovered"));
      // Log lines carry no key and no value.
      assert.ok(!JSON.stringify(lines).includes("aaaaaaaaaaaaaaaa"));
    } finally {
      await store.close();
      await server.stop();
    }
  },
});

Deno.test({
  name:
    "with templateMissCacheMs a replica keeps Redis's 'not marked' that long; its own marks count at once",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    let now = 1_000;
    const keyPrefix = "tsr-miss:";
    const writer = await openStore(server, { keyPrefix });
    const reader = await openStore(server, {
      keyPrefix,
      templateMissCacheMs: 500,
      localMaxEntries: 0,
      now: () => now,
    });
    try {
      assert.equal(await reader.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
      await writer.markTemplateHeavy("aaaaaaaaaaaaaaaa");
      // Within the miss time the earlier answer stands (no round trip) ...
      assert.equal(await reader.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
      now += 501;
      // ... and after it Redis is asked again.
      assert.equal(await reader.isTemplateHeavy("aaaaaaaaaaaaaaaa"), true);
      // A replica's own mark is never hidden by its cached "not marked".
      assert.equal(await reader.isTemplateHeavy("bbbbbbbbbbbbbbbb"), false);
      await reader.markTemplateHeavy("bbbbbbbbbbbbbbbb");
      assert.equal(await reader.isTemplateHeavy("bbbbbbbbbbbbbbbb"), true);
    } finally {
      await writer.close();
      await reader.close();
      await server.stop();
    }
  },
});
