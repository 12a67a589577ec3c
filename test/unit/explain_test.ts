/**
 * Explanations: the tree ensemble decoded from the bundled model's ONNX graph scores exactly as
 * onnxruntime does, its tree-path contributions add up to the margin, and both endpoints return
 * them on request.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appForModels } from "./_fixtures.ts";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadModelSet } from "../../src/model/model_set.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import {
  ensembleMargin,
  nodeMeans,
  pathContributions,
  readTreeEnsemble,
  TreeEnsembleError,
} from "../../src/model/tree_ensemble.ts";
import { extAuthzApi } from "../../src/server/ext_authz_api.ts";
import { routeApi } from "../../src/server/route_api.ts";

const QUERIES = [
  "SELECT count(*) FROM tpch.tiny.nation",
  "SELECT l.orderkey, sum(l.quantity) FROM tpch.sf1.lineitem l GROUP BY 1 ORDER BY 2 DESC",
  "SELECT * FROM orders o JOIN customer c ON o.custkey = c.custkey WHERE o.orderkey < 100",
];

async function bundled() {
  const models = await loadModelSet(directoryModelSource("models"));
  const manifest = models.get().manifest;
  const dir = join("models", manifest.version);
  const ensemble = readTreeEnsemble(new Uint8Array(await readFile(join(dir, manifest.onnx!.file))));
  const covers = JSON.parse(await readFile(join(dir, manifest.explain!.covers), "utf8")).covers;
  return { models, manifest, ensemble, means: nodeMeans(ensemble, covers) };
}

Deno.test("the decoded ensemble scores like onnxruntime and its contributions sum to the margin", async () => {
  const { models, ensemble, means } = await bundled();
  try {
    const model = models.get();
    assert.equal(ensemble.postTransform, "LOGISTIC");
    for (const sqlText of QUERIES) {
      const { vector } = model.featurize({ sqlText, catalog: "tpch", schema: "tiny" });
      const [onnx] = await model.scorer.score([vector]);
      const margin = ensembleMargin(ensemble, vector);
      assert.ok(Math.abs(1 / (1 + Math.exp(-margin)) - onnx) < 1e-5, sqlText);
      const contributions = pathContributions(ensemble, means, vector);
      const sum = contributions.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - margin) < 1e-6, `${sum} vs ${margin}`);
    }
  } finally {
    await models.close();
  }
});

Deno.test("POST /v1/route?explain=true and x-trino-router-explain: 1 return the top features", async () => {
  const { models } = await bundled();
  try {
    const app = appForModels(models, [routeApi, extAuthzApi]);
    const sqlText = QUERIES[1];
    const body = JSON.stringify({ sqlText, sessionProperties: { catalog: "tpch", schema: "sf1" } });
    const plain = await (await app.request("/v1/route", { method: "POST", body })).json();
    assert.equal(plain.explanation, undefined, "only on request");
    const response = await app.request("/v1/route?explain=true", { method: "POST", body });
    const explained = await response.json();
    assert.equal(explained.decision, plain.decision);
    const e = explained.explanation;
    assert.equal(e.available, true);
    assert.equal(e.modelVersion, plain.modelVersion);
    assert.ok(e.top.length > 0 && e.top.length <= 8);
    const sizes = e.top.map((c: { contribution: number }) => Math.abs(c.contribution));
    assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a), "largest first");
    assert.ok(models.get().manifest.features.includes(e.top[0].feature));

    const authz = await app.request("/ext_authz/v1/statement", {
      method: "POST",
      headers: {
        "X-Trino-Catalog": "tpch",
        "X-Trino-Schema": "sf1",
        "x-trino-router-explain": "1",
      },
      body: sqlText,
    });
    const header = authz.headers.get("x-trino-router-explanation") ?? "";
    assert.match(header, /^bias=-?[\d.e-]+; \w+=[\d.e-]+:[+-]/);
    assert.ok(header.includes(e.top[0].feature));
    const quiet = await app.request("/ext_authz/v1/statement", { method: "POST", body: sqlText });
    assert.equal(quiet.headers.get("x-trino-router-explanation"), null);
  } finally {
    await models.close();
  }
});

Deno.test("a graph that is not a tree ensemble is refused with a clear error, never a hang", () => {
  const garbage = [
    new Uint8Array([]),
    new Uint8Array([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    new Uint8Array(4096).map((_, i) => (i * 2654435761) & 0xff),
  ];
  for (const bytes of garbage) assert.throws(() => readTreeEnsemble(bytes), TreeEnsembleError);
});
