import assert from "node:assert/strict";
import type { Featurized } from "../../src/features/featurizer.ts";
import type { ModelManifest } from "../../src/model/manifest.ts";
import {
  binOf,
  createFeatureDriftMonitor,
  fitDriftReference,
  PSI_FEATURES,
} from "../../src/model/feature_drift.ts";

const NAMES = ["sql_length", "other", "token_count"];

/** A deterministic spread of values: the same generator for training and "live" traffic. */
const values = (n: number, scale: number) =>
  Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) * scale);

function manifestWith(version: string, rows: number[][]): ModelManifest {
  const matrix = Float32Array.from(rows.flat());
  const driftReference = fitDriftReference(NAMES, matrix, rows.map((_, i) => i));
  return { version, features: NAMES, driftReference } as unknown as ModelManifest;
}

const featurized = (row: number[]) => ({ vector: Float32Array.from(row) }) as Featurized;

Deno.test("binOf puts values at or below an edge in that edge's bin", () => {
  assert.equal(binOf([1, 5, 9], 0), 0);
  assert.equal(binOf([1, 5, 9], 1), 0);
  assert.equal(binOf([1, 5, 9], 5.5), 2);
  assert.equal(binOf([1, 5, 9], 100), 3);
});

Deno.test("training reference: decile bins of the watched features only", () => {
  const rows = values(1000, 1).map((v) => [v, 3, v / 10]);
  const ref = fitDriftReference(NAMES, Float32Array.from(rows.flat()), rows.map((_, i) => i));
  assert.deepEqual(Object.keys(ref.features).sort(), ["sql_length", "token_count"]);
  assert.ok(PSI_FEATURES.includes("sql_length"));
  const { edges, expected } = ref.features.sql_length;
  assert.equal(edges.length, 9);
  assert.ok(Math.abs(expected.reduce((a, b) => a + b) - 1) < 1e-9);
  assert.ok(expected.every((share) => Math.abs(share - 0.1) < 0.01));
});

Deno.test("PSI: ~0 on the training distribution, large on a shifted one, bounded sample", () => {
  const training = values(1000, 1).map((v) => [v, 3, v / 10]);
  const manifest = manifestWith("v1", training);
  const monitor = createFeatureDriftMonitor({ sampleSize: 500, minSample: 100 });
  for (const row of values(500, 1)) monitor.observe(manifest, featurized([row, 3, row / 10]));
  const stable = monitor.snapshot();
  assert.equal(stable.length, 2);
  for (const { psi, sample } of stable) {
    assert.ok(psi < 0.1, `stable psi ${psi}`);
    assert.equal(sample, 500);
  }
  // Queries three times longer: every one lands in the top bins. The sample keeps only the
  // newest 500 observations, so the old, matching ones drop out entirely.
  const base = values(500, 1);
  values(500, 3).forEach((long, i) =>
    monitor.observe(manifest, featurized([long, 3, base[i] / 10]))
  );
  const shifted = Object.fromEntries(monitor.snapshot().map((p) => [p.feature, p.psi]));
  assert.ok(shifted.sql_length > 0.25, `shifted psi ${shifted.sql_length}`);
  assert.ok(shifted.token_count < 0.1, "token_count did not move");
});

Deno.test("PSI: versions without a reference and thin samples report nothing; versions are capped", () => {
  const monitor = createFeatureDriftMonitor({ minSample: 10, maxVersions: 2 });
  const bare = { version: "no-ref", features: NAMES } as unknown as ModelManifest;
  for (let i = 0; i < 50; i++) monitor.observe(bare, featurized([i, 0, i]));
  assert.deepEqual(monitor.snapshot(), []);
  const training = values(100, 1).map((v) => [v, 3, v]);
  for (const version of ["a", "b", "c"]) {
    const manifest = manifestWith(version, training);
    for (let i = 0; i < 5; i++) monitor.observe(manifest, featurized([i, 0, i]));
  }
  assert.deepEqual(monitor.snapshot(), [], "5 observations are below minSample");
  const c = manifestWith("c", training);
  for (let i = 0; i < 10; i++) monitor.observe(c, featurized([i, 0, i]));
  const versions = new Set(monitor.snapshot().map((p) => p.modelVersion));
  assert.deepEqual([...versions], ["c"]);
});
