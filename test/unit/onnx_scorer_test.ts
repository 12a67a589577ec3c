import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { loadModelSet } from "../../src/model/model_set.ts";
import { createOnnxScorer } from "../../src/model/onnx_scorer.ts";
import type { QueryInput } from "../../src/features/featurizer.ts";
import { FIXTURE_MODELS_DIR } from "./_fixtures.ts";

const MODELS_DIR = new URL("../../models/", import.meta.url);

/** The first reads of the labeled log with their context: real vectors of the bundled model. */
function loggedInputs(count: number): QueryInput[] {
  const text = new TextDecoder().decode(
    gunzipSync(Deno.readFileSync(new URL("../../data/query_log.jsonl.gz", import.meta.url))),
  );
  const inputs: QueryInput[] = [];
  for (const line of text.split("\n")) {
    if (!line || inputs.length >= count) continue;
    const event = JSON.parse(line);
    inputs.push({
      sqlText: event.metadata?.query ?? "",
      queryId: event.metadata?.queryId,
      user: event.context?.user,
      source: event.context?.source,
      catalog: event.context?.catalog,
      schema: event.context?.schema,
    });
  }
  return inputs;
}

/** Bit patterns of scores: equal bytes, not merely close numbers. */
const bits = (scores: Float32Array) => [...new Uint32Array(scores.buffer.slice(0))];

Deno.test("the bundled model: a row's score is the same bytes alone, batched, concurrent or cached", async () => {
  const dir = fileURLToPath(MODELS_DIR);
  const models = await loadModelSet(directoryModelSource(dir));
  const model = models.get();
  const onnx = model.manifest.onnx!;
  const bytes = await Deno.readFile(`${dir}/${model.manifest.version}/${onnx.file}`);
  const inputs = loggedInputs(400);
  const vectors = inputs.map((input) => model.featurize(input).vector);
  assert.ok(new Set(vectors.map((v) => v.join())).size > 50, "the vectors vary");

  // Reference: one row per run, no cache, one call at a time.
  const uncached = await createOnnxScorer(bytes, onnx, { scoreCacheBytes: 0 });
  const single: number[] = [];
  for (const vector of vectors) single.push(...bits(await uncached.score([vector])));
  assert.ok(new Set(single).size > 5, "the scores vary");

  // All rows in one call: runs of up to 256 rows.
  assert.deepEqual(bits(await uncached.score(vectors)), single);
  // Concurrent one-row calls: gathered into shared runs.
  const concurrent = await Promise.all(vectors.map((v) => uncached.score([v])));
  assert.deepEqual(concurrent.flatMap(bits), single);

  // With the cache: the first pass fills it, the second answers from it; same bytes both.
  const cached = await createOnnxScorer(bytes, onnx);
  for (let pass = 0; pass < 2; pass++) {
    const scores = await Promise.all(vectors.map((v) => cached.score([v])));
    assert.deepEqual(scores.flatMap(bits), single, `pass ${pass}`);
  }
  await uncached.close();
  await cached.close();
  await models.close();
});

Deno.test("a failing run rejects its rows and the scorer goes on scoring", async () => {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  const model = models.get("tiny-xgb");
  const onnx = model.manifest.onnx!;
  const bytes = await Deno.readFile(`${FIXTURE_MODELS_DIR}/tiny-xgb/${onnx.file}`);
  const scorer = await createOnnxScorer(bytes, onnx, { scoreCacheBytes: 0 });
  const good = model.featurize({ sqlText: "SELECT 1" }).vector;
  // A vector of the wrong width fails in the session; it runs apart from the good rows.
  const [bad, ok] = await Promise.allSettled([
    scorer.score([new Float32Array(3)]),
    scorer.score([good]),
  ]);
  assert.equal(bad.status, "rejected");
  assert.equal(ok.status, "fulfilled");
  assert.deepEqual(await scorer.score([good]), (ok as PromiseFulfilledResult<Float32Array>).value);
  await scorer.close();
  await models.close();
});
