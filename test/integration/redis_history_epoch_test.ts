/**
 * History epochs over a real Redis: two routers (two replicas) in the same epoch read the same
 * history counts and give byte-identical decisions, whichever read first and whatever was
 * recorded meanwhile; a replica reads a key from Redis once per epoch; a dead store reads as
 * "no history" at once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  historyIncrements,
  queryHistoryKeys,
  readHistorySnapshot,
} from "../../src/features/history.ts";
import { loadModelSet } from "../../src/model/model_set.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { createRouter, type RouteDecision } from "../../src/routing/router.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();
const sanitize = { sanitizeOps: false, sanitizeResources: false } as const;
const EPOCH_MS = 1_000;
const MODELS = new URL("../../models", import.meta.url).pathname;

const QUERY = {
  sqlText: "SELECT o_orderpriority, count(*) FROM tpch.sf1.orders GROUP BY 1",
  user: "ann",
  source: "dashboards",
};
const HEAVY_RUN = { heavy: true, cpuSeconds: 400, peakMemoryBytes: 8e9 };

Deno.test({
  name: "two replicas in one history epoch read the same counts and decide the same bytes",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    let now = 100 * EPOCH_MS; // epoch 100, one clock for both replicas
    const open = async () => {
      const store = new RedisStore({
        url: server.url,
        keyPrefix: "tsr-epoch:",
        historyEpochMs: EPOCH_MS,
        now: () => now,
        log: () => {},
      });
      assert.equal(await store.ready(), true);
      return store;
    };
    const [a, b] = [await open(), await open()];
    const models = await loadModelSet(directoryModelSource(MODELS));
    assert.ok(models.get().manifest.featureSpec.history, "the bundled model reads history");
    const clusters = { small: "s", large: "l" };
    const routerA = createRouter({ models, clusters, history: a, cacheSize: 0 });
    const routerB = createRouter({ models, clusters, history: b, cacheSize: 0 });
    const keys = queryHistoryKeys(QUERY);
    const record = (store: RedisStore) => store.addHistory(historyIncrements(keys, HEAVY_RUN));
    const snapshot = (store: RedisStore) => readHistorySnapshot(store, keys);
    const route = (router: typeof routerA) => router.route(QUERY);
    try {
      // Epoch 100: B reads before A records a run, A reads after it: same (empty) counts.
      const first = await route(routerB);
      for (let i = 0; i < 5; i++) await record(a);
      const second = await route(routerA);
      assert.deepEqual(second, first);
      assert.equal(first.historyEpoch, 100);
      assert.deepEqual(await snapshot(a), { template: undefined, user: undefined, epoch: 100 });

      // Epoch 101: still settling (a writer's clock may run up to one epoch behind).
      now += EPOCH_MS;
      assert.equal((await snapshot(b)).template, undefined);

      // Epoch 102: both see the five runs, and a run recorded during 102 changes neither.
      now += EPOCH_MS;
      const before: RouteDecision = await route(routerA);
      await record(b);
      const after = await route(routerB);
      assert.deepEqual(after, before);
      assert.equal(before.historyEpoch, 102);
      const [sa, sb] = [await snapshot(a), await snapshot(b)];
      assert.equal(sa.template?.runs, 5);
      assert.equal(sa.user?.runs, 5);
      assert.deepEqual(sb, sa);
      // The history is what the decision rests on: a query without any reads differently.
      assert.notDeepEqual(before.modelScore, first.modelScore);

      // Epoch 104: the sixth run is visible to both.
      now += 2 * EPOCH_MS;
      assert.equal((await snapshot(a)).template?.runs, 6);
      assert.deepEqual(await route(routerA), await route(routerB));
    } finally {
      await models.close();
      await a.close();
      await b.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "a replica reads a history key from Redis once per epoch; old stamps fold into counts",
  ignore,
  ...sanitize,
  async fn() {
    const server = await RedisServer.start();
    let now = 50 * EPOCH_MS;
    const store = new RedisStore({
      url: server.url,
      keyPrefix: "tsr-fold:",
      historyEpochMs: EPOCH_MS,
      now: () => now,
      log: () => {},
    });
    const direct = new Redis(server.url);
    const keys = queryHistoryKeys(QUERY);
    try {
      assert.equal(await store.ready(), true);
      await store.addHistory(historyIncrements(keys, HEAVY_RUN));
      now += 2 * EPOCH_MS;
      assert.equal((await readHistorySnapshot(store, keys)).template?.runs, 1);
      // Gone from Redis: this epoch's copy still answers (no round trip), the next one does not.
      await direct.del(`tsr-fold:history:${keys.template}`);
      assert.equal((await readHistorySnapshot(store, keys)).template?.runs, 1);
      now += EPOCH_MS;
      assert.equal((await readHistorySnapshot(store, keys)).template, undefined);

      // Runs in epochs 53 and 60: the write in 60 folds 53's stamps into the plain counts.
      await store.addHistory(historyIncrements(keys, HEAVY_RUN));
      now = 60 * EPOCH_MS;
      await store.addHistory(historyIncrements(keys, HEAVY_RUN));
      const fields = await direct.hgetall(`tsr-fold:history:${keys.template}`);
      assert.equal(fields.n, "1", JSON.stringify(fields));
      assert.equal(fields["60.n"], "1", JSON.stringify(fields));
      assert.equal(fields["53.n"], undefined);
      assert.equal((await readHistorySnapshot(store, keys)).template?.runs, 1);
      now = 62 * EPOCH_MS;
      assert.equal((await readHistorySnapshot(store, keys)).template?.runs, 2);
    } finally {
      direct.disconnect();
      await store.close();
      await server.stop();
    }
  },
});

Deno.test({
  name: "a dead store reads as no history and the router still decides",
  ignore,
  ...sanitize,
  async fn() {
    const store = new RedisStore({
      url: `redis://127.0.0.1:${freeLoopbackPort()}`,
      historyEpochMs: EPOCH_MS,
      log: () => {},
    });
    const models = await loadModelSet(directoryModelSource(MODELS));
    try {
      const router = createRouter({ models, clusters: { small: "s", large: "l" }, history: store });
      const snapshot = await readHistorySnapshot(store, queryHistoryKeys(QUERY));
      assert.equal(snapshot.template, undefined);
      assert.equal(snapshot.user, undefined);
      const decision = await router.route(QUERY);
      assert.ok(decision.decision === "light" || decision.decision === "heavy");
      assert.equal(decision.reason === "model" || decision.reason === "parse-fallback", true);
    } finally {
      await models.close();
      await store.close();
    }
  },
});
