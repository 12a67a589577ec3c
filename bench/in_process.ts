/**
 * In-process cost of featurize + score + decide with the default bundled model on the labeled
 * log's reads (≤ 4 KB, every SQL new), templates warm (the CST cache holds them) and cold (every
 * template new, parsed inline here), plus the split by stage (lex / template + CST cache /
 * parse / rest of featurize / score) so the next regression is visible. Prints numbers.
 *
 * @module
 */

import { configFromEnv, readConfigEnv } from "../src/config.ts";
import { cstFeatures } from "../src/features/cst_features.ts";
import { templateCstCache } from "../src/features/cst_cache.ts";
import { directoryModelSource } from "../src/model/model_source.ts";
import { loadModelSet } from "../src/model/model_set.ts";
import { createRouter } from "../src/routing/router.ts";
import { lex } from "../src/sql/lexer.ts";
import {
  normalizedTokens,
  parseTemplate,
  templateFingerprint,
  templateOfWords,
} from "../src/sql/normalize.ts";
import { benchRequest, LOGGED_READS, type Mix, percentile } from "./_queries.ts";

const config = configFromEnv(readConfigEnv());
const models = await loadModelSet(
  directoryModelSource(config.modelsDir),
  config.defaultModelVersion,
);
const model = models.get();
const clusters = { small: "small", large: "large" };
const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 20_000);

function summary(times: number[]): string {
  times.sort((a, b) => a - b);
  const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(7)} µs`;
  return `p50 ${us(percentile(times, 50))}  p99 ${us(percentile(times, 99))}  (n=${times.length})`;
}

async function endToEnd(
  label: string,
  mix: Mix,
  cacheSize: number,
  offset: number,
  runs: number,
  distinct = Infinity,
) {
  const router = createRouter({ models, clusters, cacheSize });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const input = benchRequest(offset + (i % distinct), mix);
    const started = performance.now();
    await router.route(input);
    times.push(performance.now() - started);
  }
  console.log(`${label.padEnd(58)} ${summary(times)}`);
}

console.log(
  `model ${model.manifest.version}; ${LOGGED_READS.length} logged reads ≤ 4 KB; every SQL new`,
);
// Warm-up: JIT, and every logged template into the CST cache (as a running service would have).
for (let i = 0; i < LOGGED_READS.length * 2; i++) model.featurize(benchRequest(i, "warm"));
console.log(
  `CST cache after warm-up: ${templateCstCache.size} templates, ${
    (templateCstCache.bytes / 1024).toFixed(0)
  } KiB`,
);

await endToEnd("featurize+score+decide, templates warm", "warm", 0, 1_000_000, RUNS);
console.log("  target (issue 16): p50 ≤ 60 µs, p99 ≤ 200 µs");
await endToEnd(
  "featurize+score+decide, every template new (inline parse)",
  "cold",
  0,
  2_000_000,
  Math.min(RUNS, 3_000),
);
await endToEnd("100 distinct requests repeated (decision cache)", "warm", 10_000, 0, RUNS, 100);

// The split, stage by stage, on the warm mix (parse measured on each request's template).
const stages = { lex: [], template: [], parse: [], featurize: [], score: [] } as Record<
  string,
  number[]
>;
for (let i = 0; i < Math.min(RUNS, 5_000); i++) {
  const input = benchRequest(3_000_000 + i, "warm");
  let t = performance.now();
  const lexed = lex(input.sqlText);
  stages.lex.push(performance.now() - t);
  t = performance.now();
  const fingerprint = templateFingerprint(templateOfWords(normalizedTokens(lexed.tokens)));
  const template = parseTemplate(lexed.tokens);
  const cached = templateCstCache.get(template);
  stages.template.push(performance.now() - t);
  if (fingerprint.length !== 16 || cached === undefined) throw new Error("template not warm");
  t = performance.now();
  cstFeatures(template);
  stages.parse.push(performance.now() - t);
  t = performance.now();
  const { vector } = model.featurize(input);
  stages.featurize.push(performance.now() - t);
  t = performance.now();
  await model.scorer.score([vector]);
  stages.score.push(performance.now() - t);
}
console.log("split (warm mix):");
console.log(`  ${"lex".padEnd(56)} ${summary(stages.lex)}`);
console.log(
  `  ${"template + fingerprint + CST cache look-up".padEnd(56)} ${summary(stages.template)}`,
);
console.log(`  ${"CST parse (what a cold template costs)".padEnd(56)} ${summary(stages.parse)}`);
console.log(
  `  ${"featurize, whole (lex + template + cache + features)".padEnd(56)} ${
    summary(stages.featurize)
  }`,
);
console.log(`  ${"ONNX score".padEnd(56)} ${summary(stages.score)}`);
const rss = Number(/VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"))?.[1]) /
  1024;
console.log(`process resident memory ${rss.toFixed(0)} MB`);
await models.close();
