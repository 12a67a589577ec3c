import assert from "node:assert/strict";
import { HEURISTIC_VERSION } from "../../src/model/heuristic.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import {
  loadModelSet,
  type ModelSet,
  UnknownModelVersionError,
} from "../../src/model/model_set.ts";
import { createRouter, type TemplateCache } from "../../src/routing/router.ts";
import { FIXTURE_MODELS_DIR } from "./_fixtures.ts";

const clusters = { small: "small:8080", large: "large:8080" };

async function withModels(fn: (models: ModelSet) => Promise<void>) {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  try {
    await fn(models);
  } finally {
    await models.close();
  }
}

const LONG_SELECT = "SELECT '" + "x".repeat(3000) + "' FROM t";

Deno.test("a light query goes to Small with the model's score and version", () =>
  withModels(async (models) => {
    const router = createRouter({ models, clusters });
    const decision = await router.route({ sqlText: "SELECT 1", queryId: "q1" });
    assert.equal(decision.queryId, "q1");
    assert.equal(decision.decision, "light");
    assert.equal(decision.targetCluster, "small:8080");
    assert.equal(decision.modelVersion, "tiny-xgb");
    assert.equal(decision.reason, "model");
    assert.ok(decision.modelScore >= 0 && decision.modelScore < 0.5);
  }));

Deno.test("a query the model scores heavy goes to Large", () =>
  withModels(async (models) => {
    const decision = await createRouter({ models, clusters }).route({ sqlText: LONG_SELECT });
    assert.equal(decision.decision, "heavy");
    assert.equal(decision.targetCluster, "large:8080");
  }));

Deno.test("writes and DDL go to Large without asking the model", () =>
  withModels(async (models) => {
    const router = createRouter({ models, clusters });
    for (
      const sqlText of [
        "INSERT INTO t VALUES 1",
        "CREATE TABLE t AS SELECT 1",
        "DELETE FROM t",
        "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
        "DROP TABLE t",
      ]
    ) {
      const decision = await router.route({ sqlText });
      assert.equal(decision.reason, "write-statement", sqlText);
      assert.equal(decision.targetCluster, "large:8080", sqlText);
    }
  }));

Deno.test("a read inside a transaction goes to Large, where the transaction exists", () =>
  withModels(async (models) => {
    const router = createRouter({
      models,
      clusters,
      templateCache: { isTemplateHeavy: () => Promise.resolve(false) },
    });
    const outside = await router.route({ sqlText: "SELECT 1" });
    assert.equal(outside.targetCluster, "small:8080");
    const inside = await router.route({ sqlText: "SELECT 1", transactionId: "6f1a-tx" });
    assert.equal(inside.targetCluster, "large:8080");
    assert.equal(inside.decision, "heavy");
    assert.equal(inside.reason, "transaction");
    // Cached decisions keep the two apart in either order.
    assert.equal((await router.route({ sqlText: "SELECT 1" })).reason, "model");
    assert.equal(
      (await router.route({ sqlText: "SELECT 1", transactionId: "other" })).reason,
      "transaction",
    );
  }));

Deno.test("a query the parser refuses is decided on token features with reason parse-fallback", () =>
  withModels(async (models) => {
    const decision = await createRouter({ models, clusters }).route({
      sqlText: "SELECT " + "(".repeat(100) + "1" + ")".repeat(100),
    });
    assert.equal(decision.reason, "parse-fallback");
    assert.equal(decision.parseOutcome, "too-deep");
  }));

Deno.test("X-Model-Version semantics: a named version answers, an unknown one throws", () =>
  withModels(async (models) => {
    const router = createRouter({ models, clusters });
    const decision = await router.route({ sqlText: "SELECT 1" }, HEURISTIC_VERSION);
    assert.equal(decision.modelVersion, HEURISTIC_VERSION);
    await assert.rejects(router.route({ sqlText: "SELECT 1" }, "nope"), UnknownModelVersionError);
  }));

Deno.test("the same query, context and version always give the same decision, cached or not", () =>
  withModels(async (models) => {
    const input = {
      sqlText: "SELECT a FROM t JOIN u ON t.k = u.k",
      user: "etl",
      queryId: "20250811_123456_1_a",
    };
    const hits: boolean[] = [];
    const cached = createRouter({ models, clusters, onTimings: (t) => hits.push(t.cached) });
    const uncached = createRouter({ models, clusters, cacheSize: 0 });
    const first = await cached.route(input);
    const second = await cached.route(input);
    const fresh = await uncached.route(input);
    assert.deepEqual(hits, [false, true], "the second answer came from the decision cache");
    assert.deepEqual(second, first);
    assert.deepEqual(fresh, first);
  }));

Deno.test("a template known to be too heavy for Small goes to Large with reason template-cache", () =>
  withModels(async (models) => {
    const heavyTemplates = new Set<string>();
    const templateCache: TemplateCache = {
      isTemplateHeavy: (fp) => Promise.resolve(heavyTemplates.has(fp)),
    };
    const router = createRouter({ models, clusters, templateCache });
    const before = await router.route({ sqlText: "SELECT * FROM t WHERE day = DATE '2025-08-10'" });
    assert.equal(before.decision, "light");
    heavyTemplates.add(before.templateFingerprint);
    const after = await router.route({ sqlText: "SELECT * FROM t WHERE day = DATE '2025-08-11'" });
    assert.equal(after.reason, "template-cache");
    assert.equal(after.targetCluster, "large:8080");
    const cachedRepeat = await router.route({
      sqlText: "SELECT * FROM t WHERE day = DATE '2025-08-10'",
    });
    assert.equal(
      cachedRepeat.reason,
      "template-cache",
      "cached decisions see new heavy templates",
    );
  }));

Deno.test("a failing template cache does not cost the decision", () =>
  withModels(async (models) => {
    const templateCache: TemplateCache = {
      isTemplateHeavy: () => Promise.reject(new Error("redis down")),
    };
    const decision = await createRouter({ models, clusters, templateCache }).route({
      sqlText: "SELECT 1",
    });
    assert.equal(decision.reason, "model");
  }));
