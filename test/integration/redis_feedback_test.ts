import assert from "node:assert/strict";
import { Hono } from "hono";
import { createFeedbackLoop } from "../../src/feedback/feedback_loop.ts";
import { eventsApi } from "../../src/server/events_api.ts";
import { RedisStore } from "../../src/store/redis_store.ts";
import { completedEvent, recordKey, routed } from "../unit/_feedback_events.ts";
import { ADMIN_HEADERS, TEST_ADMIN_TOKEN } from "../unit/_fixtures.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();

Deno.test({
  name: "a decision made on one replica is joined by the replica that receives the event, " +
    "and its heavy template reaches every replica",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await RedisServer.start();
    const open = async () => {
      const store = new RedisStore({ url: server.url, keyPrefix: "tsr-fb:", log: () => {} });
      assert.equal(await store.ready(), true);
      return store;
    };
    const [routerA, routerB] = [await open(), await open()];
    const feedbackB = createFeedbackLoop({ store: routerB, log: () => {} });
    const app = new Hono().route(
      "/",
      eventsApi({ feedback: feedbackB, adminToken: TEST_ADMIN_TOKEN }),
    );
    try {
      // Replica A routed the query to Small...
      await routerA.putDecision(
        recordKey({ queryId: "q1" }),
        routed("q1", { templateFingerprint: "abcdefabcdefabcd" }),
      );
      // ...Small's event listener posts the resource failure to replica B.
      const event = completedEvent({
        queryId: "q1",
        error: ["EXCEEDED_CPU_LIMIT", "INSUFFICIENT_RESOURCES"],
      });
      const response = await app.request("/v1/events/small", {
        method: "POST",
        body: JSON.stringify(event),
        headers: ADMIN_HEADERS,
      });
      assert.equal(response.status, 200);
      await feedbackB.idle();

      assert.deepEqual(feedbackB.stats().events, { "small|joined": 1 });
      assert.equal(feedbackB.confusion().v1.falseNegative, 1);
      // Replica A's next query of that template goes to Large.
      assert.equal(await routerA.isTemplateHeavy("abcdefabcdefabcd"), true);
      // Replica A reports the fleet-wide rate, though it saw no event itself.
      const feedbackA = createFeedbackLoop({ store: routerA, log: () => {} });
      assert.equal((await feedbackA.sharedConfusion()).v1.falseNegative, 1);
    } finally {
      await feedbackB.close();
      await routerA.close();
      await routerB.close();
      await server.stop();
    }
  },
});
