import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FEATURE_SCHEMA_VERSION, featureNames } from "../../src/features/featurizer.ts";
import { eventToQueryInput } from "../../src/labels/query_event.ts";
import type { ModelManifest } from "../../src/model/manifest.ts";
import { modelSetFromBundles } from "../../src/model/model_set.ts";
import { createRouter } from "../../src/routing/router.ts";
import { featurizeLog, fitFeatureSpec, readMatrix } from "../../training/featurize.ts";
import { loadQueryLog } from "../../training/query_log.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;

Deno.test("every vector the training pipeline wrote equals, bit for bit, the router's vector for the same request", async () => {
  const dir = await mkdtemp(join(tmpdir(), "training-parity-"));
  try {
    const { spec, log } = await featurizeLog({ log: FIXTURE_LOG, out: dir });
    const { sidecar, data } = await readMatrix(dir);
    const width = sidecar.shape[1];
    const manifest: ModelManifest = {
      version: "parity-check",
      kind: "heuristic",
      featureSchemaVersion: FEATURE_SCHEMA_VERSION,
      featureSpec: spec,
      features: featureNames(spec),
      threshold: 0.5,
    };
    const models = await modelSetFromBundles([{ manifest }], manifest.version);
    const router = createRouter({ models, clusters: { small: "s", large: "l" } });
    const featurize = router.models.get(manifest.version).featurize;
    const written = new Uint32Array(data.buffer, data.byteOffset, data.length);
    assert.equal(sidecar.shape[0], log.rows.length);
    assert.ok(log.rows.length > 500, "the fixture is not trivially small");
    for (const [i, row] of log.rows.entries()) {
      assert.equal(sidecar.queryIds[i], row.queryId);
      const served = featurize(eventToQueryInput(row.event)).vector;
      assert.equal(served.length, width);
      // Bits, not values: -0 vs 0 or a NaN payload would change an ONNX branch.
      const bits = new Uint32Array(served.buffer, served.byteOffset, served.length);
      const expected = written.subarray(i * width, (i + 1) * width);
      assert.deepEqual(bits, expected, `row ${i} (${row.queryId}) differs`);
    }
    await models.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("the vocabulary, IDF and table catalog are never fitted on the test split", async () => {
  const dir = await mkdtemp(join(tmpdir(), "training-spec-"));
  try {
    const fit = { identity: true, useTfidf: true };
    const { spec, log } = await featurizeLog({ log: FIXTURE_LOG, out: dir, ...fit });
    const train = log.rows.filter((r) => r.split !== "test");
    assert.deepEqual(spec, fitFeatureSpec(train, fit));
    assert.notDeepEqual(spec, fitFeatureSpec(log.rows, fit), "fitting on all rows would differ");
    assert.ok(spec.tableCatalog.tables.length > 0, "the catalog learned tables");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("the log is split by time, drops unrelated failures and keeps the last attempt of a retried query", async () => {
  const log = await loadQueryLog(FIXTURE_LOG);
  const times = log.rows.map((r) => r.time);
  assert.deepEqual(times, [...times].sort((a, b) => a - b));
  const order = { train: 0, valid: 1, test: 2 } as const;
  for (let i = 1; i < log.rows.length; i++) {
    assert.ok(order[log.rows[i - 1].split] <= order[log.rows[i].split], "splits follow time");
  }
  const counts = { train: 0, valid: 0, test: 0 };
  for (const r of log.rows) counts[r.split]++;
  assert.ok(Math.abs(counts.train / log.rows.length - 0.7) < 0.02, JSON.stringify(counts));
  assert.ok(log.dropped.unrelatedFailure > 0 && log.dropped.duplicate > 0);
  assert.equal(new Set(log.rows.map((r) => r.queryId)).size, log.rows.length);
  const retried = log.rows.filter((r) => r.because === "resource-error");
  assert.ok(retried.length > 0 && log.rows.some((r) => r.because === "write"));
});
