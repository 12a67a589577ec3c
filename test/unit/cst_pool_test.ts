import assert from "node:assert/strict";
import { CstCache } from "../../src/features/cst_cache.ts";
import { createCstPool } from "../../src/features/cst_pool.ts";
import { lex } from "../../src/sql/lexer.ts";
import { parseTemplate } from "../../src/sql/normalize.ts";
import {
  createFeaturizer,
  type Featurized,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";

const bits = (f: Featurized) => [...new Uint32Array(f.vector.buffer)];

/** A template that takes the parser several milliseconds: many joins and predicates. */
const BIG = "SELECT " + Array.from({ length: 60 }, (_, i) => `coalesce(a${i}, b${i}) AS c${i}`)
  .join(", ") +
  " FROM t0 " +
  Array.from({ length: 30 }, (_, i) => `JOIN t${i + 1} ON t${i}.k = t${i + 1}.k`).join(" ");

async function withPool(
  options: { budgetMs: number },
  fn: (pool: ReturnType<typeof createCstPool>, cache: CstCache) => Promise<void>,
) {
  const cache = new CstCache();
  const pool = createCstPool({ cache, budgetMs: options.budgetMs });
  try {
    await pool.ready;
    await fn(pool, cache);
  } finally {
    pool.close();
  }
}

Deno.test("a cold parse in the pool gives the inline parse's vector, and warms the cache", () =>
  withPool({ budgetMs: 10_000 }, async (pool, cache) => {
    const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: cache });
    const inline = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: new CstCache(0) });
    for (
      const sqlText of [BIG, "SELECT transform(a, x -> x + 1) FROM t WHERE d = 5", "DELETE FROM t"]
    ) {
      const pooled = await featurize.withColdParse({ sqlText }, pool.parse);
      assert.deepEqual(bits(pooled), bits(inline({ sqlText })));
      assert.ok(cache.get(parseTemplate(lex(sqlText).tokens)), "the result is cached");
    }
  }));

Deno.test("the event loop keeps running while the pool parses", () =>
  withPool({ budgetMs: 10_000 }, async (pool) => {
    const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: new CstCache() });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      // Ten distinct cold templates: inline they would run back to back on this thread.
      const parses = Array.from(
        { length: 10 },
        (_, i) => featurize.withColdParse({ sqlText: BIG + ` WHERE x${i} = 1` }, pool.parse),
      );
      const results = await Promise.all(parses);
      assert.ok(results.every((r) => r.parseOutcome === "parsed"));
      assert.ok(ticks > 0, "timers ran while the parses were pending");
    } finally {
      clearInterval(timer);
    }
  }));

Deno.test("a parse over budget answers with token features, and its result still warms the cache", () =>
  withPool({ budgetMs: 0 }, async (pool, cache) => {
    const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: cache });
    const first = await featurize.withColdParse({ sqlText: BIG }, pool.parse);
    assert.equal(first.parseOutcome, "over-budget");
    assert.equal(cache.size, 0, "over-budget is not cached");
    while (pool.pending() > 0) await new Promise((r) => setTimeout(r, 10));
    const second = await featurize.withColdParse({ sqlText: BIG }, pool.parse);
    assert.equal(second.parseOutcome, "parsed");
  }));

Deno.test("parses queued past their budget are dropped, newest first: the CPU goes to answers still waiting", () =>
  withPool({ budgetMs: 1 }, async (pool, cache) => {
    const featurize = createFeaturizer(FIXED_ONLY_SPEC, { cstCache: cache });
    // Several milliseconds of parsing each: every parse queued behind the first is past its
    // 1 ms budget when the worker frees up.
    const huge = (i: number) =>
      Array.from({ length: 6 }, () => BIG).join(" UNION ALL ") + ` WHERE y${i} = 1`;
    const burst = Array.from(
      { length: 20 },
      (_, i) => featurize.withColdParse({ sqlText: huge(i) }, pool.parse),
    );
    assert.equal(pool.pending(), 20, "all queued");
    const results = await Promise.all(burst);
    assert.ok(results.every((r) => r.parseOutcome !== "parsed"));
    while (pool.pending() > 0) await new Promise((r) => setTimeout(r, 10));
    assert.equal(cache.size, 1, "only the parse that started at once ran");
  }));

Deno.test("an idle pool stops its workers, and the next cold template starts one again", async () => {
  const cache = new CstCache();
  const pool = createCstPool({ cache, budgetMs: 30_000, idleMs: 100 });
  try {
    await pool.ready;
    assert.equal(pool.workers(), 1);
    for (let i = 0; i < 200 && pool.workers() > 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(pool.workers(), 0, "no worker left after the idle period");
    const result = await pool.parse("select a from t where b = ?");
    assert.equal(result?.outcome, "parsed");
    assert.equal(pool.workers(), 1);
    assert.equal(cache.get("select a from t where b = ?")?.outcome, "parsed");
  } finally {
    pool.close();
  }
});
