// Two router replicas (two ext_proc servers) sharing a real redis-server: Envoy may open the
// POST's stream on one and the failing page's stream on the other; the retry still happens,
// exactly once, and rows seen by one replica block a retry on the other.
import assert from "node:assert/strict";
import { startExtProcServer } from "../../src/ext_proc/server.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";
import { startStubTrino } from "./ext_proc_stub_trino.ts";
import {
  bodyOf,
  exchange,
  extProcClient,
  failed,
  followupStream,
  HEAVY_SQL,
  page,
  queued,
  submissionStream,
} from "./ext_proc_grpc_client.ts";

const ignore = await skipRedisTests();
const silent = { info() {}, warn() {}, error() {} };

async function twoReplicas(localMaxEntries: number | undefined): Promise<void> {
  const redis = await RedisServer.start();
  const large = startStubTrino({ name: "large", behaviour: "rows" });
  const stores = [0, 1].map(() =>
    new RedisStore({ url: redis.url, log: () => {}, localMaxEntries })
  );
  const servers = await Promise.all(
    stores.map((store) =>
      startExtProcServer({ store, largeClusterUrl: large.url, port: 0, logger: silent })
    ),
  );
  const [a, b] = servers.map((server) => extProcClient(server.port));
  try {
    // Query 1: POST seen by replica A, the failure by replica B.
    await exchange(a, submissionStream(HEAVY_SQL, queued("q1")));
    const [retried] = await exchange(b, followupStream(failed("q1")));
    assert.match(JSON.parse(bodyOf(retried)!).id, /_large$/);
    // The same failure once more, on A: the submission is gone, no second retry.
    const [again] = await exchange(a, followupStream(failed("q1")));
    assert.equal(bodyOf(again), undefined);
    assert.equal(large.requests.filter((r) => r.method === "POST").length, 1);

    // Query 2: rows went out through A; the failure reaches B, which must not retry.
    await exchange(a, submissionStream(HEAVY_SQL, queued("q2")));
    await exchange(a, followupStream(page("q2")));
    const [notRetried] = await exchange(b, followupStream(failed("q2")));
    assert.equal(bodyOf(notRetried), undefined);
    assert.equal(large.requests.filter((r) => r.method === "POST").length, 1);
  } finally {
    a.close();
    b.close();
    await Promise.all(servers.map((server) => server.close()));
    await Promise.all(stores.map((store) => store.close()));
    await large.close();
    await redis.stop();
  }
}

Deno.test({
  name: "ext_proc over Redis: replicas share submissions; retried once; rows block retries",
  ignore,
  fn: () => twoReplicas(0),
});

// With the store's per-process copy enabled (the default), Redis's atomic GETDEL must still win,
// or one query would be retried on Large by both replicas.
Deno.test({
  name: "ext_proc over Redis with the store's local copy (default options)",
  ignore,
  fn: () => twoReplicas(undefined),
});

Deno.test({
  name: "ext_proc over Redis: only allowlisted headers reach Redis; a full queue marks no template",
  ignore,
  async fn() {
    const redis = await RedisServer.start();
    const large = startStubTrino({ name: "large", behaviour: "rows" });
    const store = new RedisStore({ url: redis.url, log: () => {}, localMaxEntries: 0 });
    const reader = new RedisStore({ url: redis.url, log: () => {}, localMaxEntries: 0 });
    const server = await startExtProcServer({
      store,
      largeClusterUrl: large.url,
      port: 0,
      logger: silent,
    });
    const client = extProcClient(server.port);
    try {
      await exchange(client, submissionStream(HEAVY_SQL, queued("q1")));
      const kept = await reader.takeSubmission("q1");
      assert.equal(kept?.headers["x-trino-user"], "alice");
      assert.equal(kept?.headers["x-trino-session"], "query_max_memory=1GB");
      for (const secret of ["x-trino-extra-credential", "authorization", "x-trino-routing-group"]) {
        assert.equal(kept?.headers[secret], undefined, secret);
      }
      assert.ok(!JSON.stringify(kept).includes("s3cret"));

      const template = sqlTemplateFingerprint(HEAVY_SQL);
      await exchange(client, submissionStream(HEAVY_SQL, queued("q2")));
      await exchange(
        client,
        followupStream(failed("q2", "INSUFFICIENT_RESOURCES", "QUERY_QUEUE_FULL")),
      );
      assert.equal(await reader.isTemplateHeavy(template), false, "a full queue is no verdict");
      await exchange(client, submissionStream(HEAVY_SQL, queued("q3")));
      await exchange(client, followupStream(failed("q3")));
      assert.equal(await reader.isTemplateHeavy(template), true);
    } finally {
      client.close();
      await server.close();
      await store.close();
      await reader.close();
      await large.close();
      await redis.stop();
    }
  },
});
