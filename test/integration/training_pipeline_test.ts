import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateManifest } from "../../src/model/manifest.ts";
import { PARITY_TOLERANCE, replay } from "../../training/replay.ts";
import { train } from "../../training/train.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;
const PROMOTE = new URL("../../training/promote.ts", import.meta.url).pathname;

// One Python training run on the small fixture (~10 s) backs every assertion below.
Deno.test("the fixture trains into a bundle whose ONNX decisions in Deno equal native XGBoost's", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "training-pipeline-"));
  try {
    const out = join(dir, "models", "fixture-xgb");
    const { bundleDir, version } = await train({
      log: FIXTURE_LOG,
      out,
      workDir: join(dir, "work"),
      // As the bundled model: history features, replayed point-in-time from the log.
      history: true,
    });
    assert.equal(version, "fixture-xgb");
    const manifest = validateManifest(
      JSON.parse(await readFile(join(bundleDir, "manifest.json"), "utf8")),
      bundleDir,
    );

    await t.step(
      "Deno (onnxruntime-web via the router) matches native XGBoost on the test split",
      async () => {
        // The replay reads history through a store fed in submission order (the router's way).
        assert.equal(manifest.featureSpec.history, true);
        const { parity } = await replay({ log: FIXTURE_LOG, model: bundleDir, split: "test" });
        // The test split holds out whole template families: few of the fixture's rows.
        assert.ok(parity && parity.rows >= 10, JSON.stringify(parity));
        assert.equal(parity.missing, 0);
        assert.equal(parity.decisionMismatches, 0);
        assert.ok(parity.maxAbsDiffRaw <= PARITY_TOLERANCE, JSON.stringify(parity));
      },
    );

    await t.step(
      "the manifest records template-disjoint metrics for the model and both baselines",
      () => {
        const m = manifest.metrics as Record<string, { recall: number; aucPr: number }>;
        assert.equal(manifest.metrics?.splitBy, "template");
        for (const name of ["xgboost", "schema-rule", "heuristic"]) {
          assert.equal(typeof m[name].recall, "number", name);
        }
        // Out-of-fold rows (train + validation, families unseen by each fold's model): the
        // fixture's template-disjoint test split is too small to compare on.
        const oof = manifest.metrics?.validation as Record<string, Record<string, number>>;
        assert.ok(
          oof.xgboost.heavyCpuSecondsOnSmall < oof.heuristic.heavyCpuSecondsOnSmall,
          JSON.stringify(oof),
        );
        assert.equal(manifest.onnx?.output, "probabilities");
        // Rows without template history (the held-out workload's case) are reported apart.
        const origins = Object.keys(manifest.metrics?.byOrigin as object);
        assert.ok(origins.some((o) => o.startsWith("first run")), origins.join("; "));
        const data = manifest.trainingData as { fingerprint: string };
        assert.match(data.fingerprint, /^sha256:[0-9a-f]{64}$/);
      },
    );

    await t.step(
      "promote.ts exits non-zero for a worse challenger and leaves DEFAULT alone",
      async () => {
        const result = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            PROMOTE,
            "--log",
            FIXTURE_LOG,
            "--models-dir",
            join(dir, "models"),
            "--champion",
            version,
            "--challenger",
            "heuristic-v1",
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(result.stderr);
        assert.equal(result.code, 1, stderr);
        assert.match(stderr, /REFUSED/);
        await assert.rejects(readFile(join(dir, "models", "DEFAULT")));
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
