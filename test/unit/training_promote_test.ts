import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createFeaturizer,
  FEATURE_SCHEMA_VERSION,
  featureNames,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import { HEURISTIC_MANIFEST, HEURISTIC_VERSION } from "../../src/model/heuristic.ts";
import { type ModelSet, modelSetFromBundles } from "../../src/model/model_set.ts";
import type { Scorer } from "../../src/model/scorer.ts";
import { createRouter } from "../../src/routing/router.ts";
import { replaySchemaRule, SCHEMA_RULE_NAME } from "../../training/baselines.ts";
import { promote, promotionGate } from "../../training/promote.ts";
import { loadQueryLog } from "../../training/query_log.ts";
import { replayReport, replayRows } from "../../training/replay.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;

/** A model set with one constant-score model beside the heuristic. */
async function withConstantModel(version: string, score: number): Promise<ModelSet> {
  const base = await modelSetFromBundles([]);
  const scorer: Scorer = {
    score: (v) => Promise.resolve(new Float32Array(v.length).fill(score)),
    close: () => Promise.resolve(),
  };
  const constant = {
    manifest: { ...HEURISTIC_MANIFEST, version, description: `always ${score}` },
    featurize: createFeaturizer(FIXED_ONLY_SPEC),
    scorer,
  };
  return {
    defaultVersion: HEURISTIC_VERSION,
    versions: [...base.versions, version],
    get: (v) => v === version ? constant : base.get(v),
    close: () => base.close(),
  };
}

async function replayTest(models: ModelSet, version: string) {
  const log = await loadQueryLog(FIXTURE_LOG);
  const router = createRouter({ models, clusters: { small: "s", large: "l" }, cacheSize: 0 });
  const rows = log.rows.filter((r) => r.split === "test");
  return replayReport(version, "test", await replayRows(router, rows, version));
}

Deno.test("the promotion gate rejects a challenger that sends heavy queries to Small", async () => {
  const models = await withConstantModel("always-light", 0);
  const champion = await replayTest(models, HEURISTIC_VERSION);
  const challenger = await replayTest(models, "always-light");
  // Writes still go to Large by policy: only the model-decided rows expose the bad model.
  assert.equal(challenger.modelDecided.recall, 0);
  assert.ok(challenger.heavyCpuSecondsOnSmall > champion.heavyCpuSecondsOnSmall);
  const verdict = promotionGate(champion, challenger);
  assert.equal(verdict.promote, false);
  assert.ok(verdict.reasons.some((r) => r.startsWith("FAIL recall")), verdict.reasons.join("\n"));
  assert.ok(verdict.reasons.some((r) => r.startsWith("FAIL danger")), verdict.reasons.join("\n"));
  await models.close();
});

Deno.test("the promotion gate refuses a challenger that does not beat the schema-rule baseline", async () => {
  const models = await withConstantModel("always-heavy", 1);
  const champion = await replayTest(models, HEURISTIC_VERSION);
  const challenger = await replayTest(models, "always-heavy");
  const log = await loadQueryLog(FIXTURE_LOG);
  const rule = replayReport(
    SCHEMA_RULE_NAME,
    "test",
    replaySchemaRule(log.rows.filter((r) => r.split === "test")),
  );
  assert.equal(rule.rows, challenger.rows, "the rule is replayed on the same rows");
  // Matching a baseline is not beating it.
  const verdict = promotionGate(champion, challenger, {}, [rule, {
    ...challenger,
    version: "twin",
  }]);
  assert.equal(verdict.promote, false, verdict.reasons.join("\n"));
  assert.ok(verdict.reasons.some((r) => r.startsWith("FAIL baseline twin")));
  // Against a baseline it is strictly better than (the always-light model), it passes.
  const light = await withConstantModel("always-light", 0);
  const weak = await replayTest(light, "always-light");
  const versus = promotionGate(champion, challenger, {}, [weak]);
  assert.equal(versus.promote, true, versus.reasons.join("\n"));
  await models.close();
  await light.close();
});

Deno.test("the promotion gate accepts a challenger with full recall and no more danger", async () => {
  const models = await withConstantModel("always-heavy", 1);
  const champion = await replayTest(models, HEURISTIC_VERSION);
  const challenger = await replayTest(models, "always-heavy");
  const verdict = promotionGate(champion, challenger);
  assert.equal(verdict.promote, true, verdict.reasons.join("\n"));
  assert.equal(challenger.heavyCpuSecondsOnSmall, 0);
  await models.close();
});

Deno.test("promote leaves DEFAULT alone when refused and writes it when the gate passes", async () => {
  const dir = await mkdtemp(join(tmpdir(), "training-promote-"));
  try {
    await mkdir(join(dir, "heuristic-copy"));
    await writeFile(
      join(dir, "heuristic-copy", "manifest.json"),
      JSON.stringify({
        version: "heuristic-copy",
        kind: "heuristic",
        featureSchemaVersion: FEATURE_SCHEMA_VERSION,
        featureSpec: FIXED_ONLY_SPEC,
        features: featureNames(FIXED_ONLY_SPEC),
        threshold: 0.5,
      }),
    );
    await writeFile(join(dir, "DEFAULT"), `${HEURISTIC_VERSION}\n`);
    const options = { log: FIXTURE_LOG, modelsDir: dir, challenger: "heuristic-copy" };
    const refused = await promote(options);
    assert.equal(refused.promoted, false, "the heuristic misses most heavy fixture queries");
    assert.equal(await readFile(join(dir, "DEFAULT"), "utf8"), `${HEURISTIC_VERSION}\n`);
    assert.ok(
      refused.verdict.reasons.some((r) => r.startsWith(`FAIL baseline ${HEURISTIC_VERSION}`)),
    );
    // A copy of the heuristic cannot beat the heuristic baseline: only without baselines.
    const passed = await promote({ ...options, minRecall: 0.3, baselines: false });
    assert.equal(passed.promoted, true, passed.verdict.reasons.join("\n"));
    assert.equal(await readFile(join(dir, "DEFAULT"), "utf8"), "heuristic-copy\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
