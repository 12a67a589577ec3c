/**
 * The unfamiliar-query rule: a bundle's learned ranges and table catalog send what the model
 * never saw to Large with reason `unfamiliar`; familiar queries keep the model's decision.
 *
 * @module
 */

import assert from "node:assert/strict";
import { featureNames, FIXED_ONLY_SPEC } from "../../src/features/featurizer.ts";
import { HEURISTIC_MANIFEST } from "../../src/model/heuristic.ts";
import { type ModelManifest, validateManifest } from "../../src/model/manifest.ts";
import { loadModelSet, modelSetFromBundles } from "../../src/model/model_set.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { createRouter } from "../../src/routing/router.ts";

const spec = {
  ...FIXED_ONLY_SPEC,
  tableCatalog: {
    tables: ["tpch.tiny.nation", "tpch.tiny.orders"],
    rows: [25, 15_000],
    bytes: [0, 0],
  },
};
const manifest: ModelManifest = {
  ...HEURISTIC_MANIFEST,
  version: "with-novelty",
  featureSpec: spec,
  features: featureNames(spec),
  novelty: { features: ["tables_unknown", "kw_join"], min: [0, 0], max: [0, 2] },
};

async function router() {
  const models = await modelSetFromBundles([{ manifest }], manifest.version);
  return { models, router: createRouter({ models, clusters: { small: "s", large: "l" } }) };
}

Deno.test("a query on a table the catalog never saw goes to Large as unfamiliar", async () => {
  const { models, router: r } = await router();
  const context = { catalog: "tpch", schema: "tiny" };
  const known = await r.route({ sqlText: "SELECT count(*) FROM orders", ...context });
  assert.equal(known.reason, "model");
  assert.equal(known.targetCluster, "s");
  const unknown = await r.route({ sqlText: "SELECT count(*) FROM tpch.sf100.orders", ...context });
  assert.equal(unknown.reason, "unfamiliar");
  assert.equal(unknown.decision, "heavy");
  assert.equal(unknown.targetCluster, "l");
  // The heuristic's own score (light) is still reported; only the decision changed.
  assert.equal(unknown.modelScore, 0);
  await models.close();
});

Deno.test("a feature beyond every training row's range is unfamiliar; writes stay write-statement", async () => {
  const { models, router: r } = await router();
  const joins = (n: number) =>
    "SELECT * FROM nation n0" +
    Array.from({ length: n }, (_, i) => ` JOIN nation n${i + 1} ON true`).join("");
  const context = { catalog: "tpch", schema: "tiny" };
  assert.equal((await r.route({ sqlText: joins(2), ...context })).reason, "model");
  assert.equal((await r.route({ sqlText: joins(3), ...context })).reason, "unfamiliar");
  const write = await r.route({ sqlText: "INSERT INTO t SELECT * FROM x.y.z", ...context });
  assert.equal(write.reason, "write-statement");
  await models.close();
});

Deno.test("a manifest whose novelty rule names a feature the layout lacks is refused", () => {
  const bad = { ...manifest, novelty: { features: ["no_such"], min: [0], max: [1] } };
  assert.throws(() => validateManifest(bad, "bad"), /unknown feature "no_such"/);
  const ragged = { ...manifest, novelty: { features: ["kw_join"], min: [0], max: [] } };
  assert.throws(() => validateManifest(ragged, "ragged"), /differ in length/);
});

Deno.test("the bundled model scores long multi-CTE analytical SQL instead of calling it unfamiliar", async () => {
  // Written for this project in a reporting analyst's style (never trained or tuned on): four
  // and five CTEs, CTE reuse, windows, correlated subqueries — longer and more nested than
  // anything the random generator writes. Only the monotone structure counts grow beyond the
  // trained range, so the model, not the novelty rule, decides.
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("../fixtures/analyst_queries.json", import.meta.url)),
  ) as { queries: { name: string; sql: string; measured?: Record<string, { heavy: boolean }> }[] };
  const models = await loadModelSet(directoryModelSource("models"));
  try {
    assert.notEqual(models.defaultVersion, "heuristic-v1", "a trained model is bundled");
    const r = createRouter({ models, clusters: { small: "s", large: "l" } });
    for (const { name, sql, measured } of fixture.queries) {
      for (const scale of ["tiny", "sf1"]) {
        const decision = await r.route({ sqlText: sql.replaceAll("{scale}", scale) });
        assert.equal(decision.parseOutcome, "parsed", `${name} at ${scale}`);
        assert.notEqual(decision.reason, "unfamiliar", `${name} at ${scale}`);
        // At sf1 each reads a fact table of a million rows or more: measured heavy on the real
        // Large cluster, and a miss there would cost seconds of Small's CPU.
        if (scale === "sf1" && measured?.sf1?.heavy) {
          assert.equal(decision.decision, "heavy", `${name} at sf1`);
        }
      }
    }
  } finally {
    await models.close();
  }
});
