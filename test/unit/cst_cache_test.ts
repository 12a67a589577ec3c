import assert from "node:assert/strict";
import { CstCache } from "../../src/features/cst_cache.ts";
import {
  createFeaturizer,
  type Featurized,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";

const bits = (f: Featurized) => [...new Uint32Array(f.vector.buffer)];

Deno.test("a warm template gives the same vector bytes as a cold one, and costs no parse", () => {
  const cache = new CstCache();
  const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: cache });
  const cold = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: new CstCache(0) });
  const sql = (day: number) =>
    `SELECT a, count(*) FROM t JOIN u ON t.k = u.k WHERE d = DATE '2025-08-${day}' GROUP BY a`;
  const first = featurize({ sqlText: sql(10) });
  assert.equal(cache.size, 1);
  const second = featurize({ sqlText: sql(11) });
  assert.equal(cache.size, 1, "new literals, same template: one entry");
  assert.equal(second.templateFingerprint, first.templateFingerprint);
  assert.deepEqual(bits(second), bits(cold({ sqlText: sql(11) })));
  assert.equal(second.parseOutcome, "parsed");
});

Deno.test("the cache holds what its byte budget allows, whatever the number of templates", () => {
  const budget = 64 * 1024;
  const cache = new CstCache(budget);
  const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: cache });
  for (let i = 0; i < 2_000; i++) {
    featurize({ sqlText: `SELECT c${i} FROM schema_${i}.table_${i} JOIN other_${i} USING (k)` });
  }
  assert.ok(cache.bytes <= budget, `${cache.bytes} bytes`);
  assert.ok(cache.size > 50 && cache.size < 2_000, `${cache.size} entries`);
});
