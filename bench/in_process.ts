/**
 * In-process latency of featurize + infer + decide with the default bundled model, cache off
 * (every query computed) and on (dashboards resubmitting identical SQL). Prints numbers.
 *
 * @module
 */

import { configFromEnv, readConfigEnv } from "../src/config.ts";
import { directoryModelSource } from "../src/model/model_source.ts";
import { loadModelSet } from "../src/model/model_set.ts";
import { createRouter } from "../src/routing/router.ts";
import { benchRequest, percentile } from "./_queries.ts";

const config = configFromEnv(readConfigEnv());
const models = await loadModelSet(
  directoryModelSource(config.modelsDir),
  config.defaultModelVersion,
);
const clusters = { small: "small", large: "large" };

async function measure(label: string, cacheSize: number, distinct: number, runs: number) {
  const router = createRouter({ models, clusters, cacheSize });
  for (let i = 0; i < 500; i++) await router.route(benchRequest(i % distinct));
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const input = benchRequest(1000 + (i % distinct));
    const started = performance.now();
    await router.route(input);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(44)} p50 ${percentile(times, 50).toFixed(3)} ms  p99 ${
      percentile(times, 99).toFixed(3)
    } ms  max ${times.at(-1)!.toFixed(3)} ms  (n=${runs})`,
  );
}

console.log(`model ${models.defaultVersion}; queries 90-2,400 bytes`);
await measure("featurize+infer+decide, every query new", 0, 1_000_000, 5_000);
await measure("same, with cache, 100 distinct queries", 10_000, 100, 20_000);
await models.close();
