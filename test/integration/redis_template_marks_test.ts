/**
 * Template marks outlive Redis trouble on a real `redis-server`: each replica keeps a local copy
 * of every mark (learned by a periodic sync), so a dead Redis does not send a known-heavy
 * template back to Small, and a Redis restarted without persistence gets the marks back.
 */
import assert from "node:assert/strict";
import { RedisStore } from "../../src/store/redis_store.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();
const open = async (url: string, templateSyncMs = 100) => {
  const store = new RedisStore({ url, log: () => {}, templateSyncMs });
  assert.equal(await store.ready(), true);
  return store;
};
const until = async (check: () => Promise<boolean>, ms = 5_000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
};

Deno.test({
  name: "with Redis dead, a replica still knows the marks another replica wrote",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await RedisServer.start();
    const writer = await open(server.url);
    const reader = await open(server.url);
    try {
      await writer.markTemplateHeavy("aaaaaaaaaaaaaaaa");
      // The reader never asked about this template; the sync teaches it within a round.
      await new Promise((resolve) => setTimeout(resolve, 400));
      await server.kill();
      assert.ok(
        await until(() => Promise.resolve(reader.health().state === "degraded")),
        "the reader sees the outage",
      );
      let heavy = 0;
      for (let i = 0; i < 20; i++) if (await reader.isTemplateHeavy("aaaaaaaaaaaaaaaa")) heavy++;
      assert.equal(heavy, 20, "20/20 answers keep the template on Large");
      assert.equal(await reader.isTemplateHeavy("bbbbbbbbbbbbbbbb"), false);
    } finally {
      await writer.close();
      await reader.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "a Redis restarted without persistence gets the marks back from the replicas",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await RedisServer.start();
    const replica = await open(server.url);
    try {
      await replica.markTemplateHeavy("cccccccccccccccc");
      await server.kill();
      await server.restart(); // Empty: the test server keeps no snapshot or AOF.
      // A fresh replica without any local copy asks Redis itself.
      const fresh = new RedisStore({ url: server.url, log: () => {}, localMaxEntries: 0 });
      try {
        assert.equal(await fresh.ready(), true);
        assert.ok(
          await until(() => fresh.isTemplateHeavy("cccccccccccccccc")),
          "the mark is back in Redis",
        );
      } finally {
        await fresh.close();
      }
    } finally {
      await replica.close();
      await server.stop();
    }
  },
});
