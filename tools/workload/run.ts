/**
 * Workload runner: executes a generated plan against the real Small/Large Trino clusters with
 * bounded concurrency and a per-query timeout, while a loopback collector writes every
 * query-completed event that Trino's HTTP event listener posts to a JSON Lines log.
 *
 * Usage (clusters started with `deploy/trino/cluster.sh start large small`, whose event
 * listener posts to http://127.0.0.1:18090/v1/events by default):
 *
 * ```sh
 * npx deno run -A tools/workload/run.ts --count 4500 --seed 42 --out data/query_log.jsonl.gz
 * # random-v1 shapes (each at tiny and sf1), see random_queries.ts and random_chunks.sh:
 * npx deno run -A tools/workload/run.ts --generator random --shapes 600 --seed 1001 \
 *   --small-share 0.2 --out data/random_log/chunk-001.jsonl.gz
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startCollector, writeLog } from "./collector.ts";
import { generateWorkload, type PlannedQuery } from "./generate.ts";
import { generateRandomPlan } from "./random_queries.ts";
import { executeQuery, type QueryOutcome } from "./trino_client.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    /** `templates` (generate.ts) or `random` (random_queries.ts). */
    generator: { type: "string", default: "templates" },
    count: { type: "string", default: "4500" },
    /** Random generator: number of shapes (each runs at both scales). */
    shapes: { type: "string", default: "600" },
    /** Random generator: `query_max_cpu_time` of every query ("" = none). */
    "cpu-cap": { type: "string", default: "3s" },
    /** Random generator: sampling mix (`base`, `structural`, `analyst`; see random_queries.ts MIXES). */
    mix: { type: "string", default: "base" },
    seed: { type: "string", default: "42" },
    "small-share": { type: "string", default: "0.15" },
    plan: { type: "string" },
    out: { type: "string", default: "data/query_log.jsonl.gz" },
    "raw-out": { type: "string" },
    "outcomes-out": { type: "string" },
    verbatim: { type: "boolean", default: false },
    /** Add to an existing log instead of replacing it (a second workload phase). */
    append: { type: "boolean", default: false },
    "sf1-scale": { type: "string", default: "0.45" },
    "collector-port": { type: "string", default: "18090" },
    "large-url": {
      type: "string",
      default: `http://127.0.0.1:${Deno.env.get("TRINO_LARGE_PORT") ?? "18082"}`,
    },
    "small-url": {
      type: "string",
      default: `http://127.0.0.1:${Deno.env.get("TRINO_SMALL_PORT") ?? "18081"}`,
    },
    "large-concurrency": { type: "string", default: "3" },
    "small-concurrency": { type: "string", default: "1" },
    "timeout-seconds": { type: "string", default: "120" },
    /** Stop starting new queries after this many seconds (the wall-clock budget of a run). */
    "max-seconds": { type: "string", default: "0" },
  },
});

const plan: PlannedQuery[] = values.plan
  ? (await Deno.readTextFile(values.plan)).trim().split("\n").map((l) => JSON.parse(l))
  : values.generator === "random"
  ? generateRandomPlan({
    shapes: Number(values.shapes),
    seed: Number(values.seed),
    smallShare: Number(values["small-share"]),
    cpuCap: values["cpu-cap"],
    mix: values.mix,
  })
  : generateWorkload({
    count: Number(values.count),
    seed: Number(values.seed),
    smallShare: Number(values["small-share"]),
    sf1Scale: Number(values["sf1-scale"]),
  });

// Events are held in memory and written at the end, keeping only this run's queries: the
// clusters are shared (other tests send queries to them too) and their events must not leak
// into the dataset. --raw-out receives every POST verbatim as it arrives.
const collector = await startCollector({
  port: Number(values["collector-port"]),
  rawOut: values["raw-out"],
  append: values.append,
  // The committed log drops bulky diagnostics (plans, operator stats); --verbatim keeps them.
  slim: !values.verbatim,
});

const outcomes: Array<QueryOutcome & { seq: number; template: string; cluster: string }> = [];
const started = Date.now();
let done = 0;

/** Runs `items` with at most `concurrency` in flight, in plan order. */
async function pool(items: PlannedQuery[], baseUrl: string, concurrency: number) {
  let next = 0;
  const worker = async () => {
    const budget = Number(values["max-seconds"]) * 1000;
    while (next < items.length) {
      if (budget > 0 && Date.now() - started > budget) return;
      const q = items[next++];
      const outcome = await executeQuery(baseUrl, q.sql, q, {
        timeoutMs: Number(values["timeout-seconds"]) * 1000,
      });
      outcomes.push({ ...outcome, seq: q.seq, template: q.template, cluster: q.cluster });
      if (++done % 100 === 0) {
        const secs = (Date.now() - started) / 1000;
        console.error(
          `${done}/${plan.length} queries, ${secs.toFixed(0)}s, events ${collector.events.size}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

await Promise.all([
  pool(
    plan.filter((q) => q.cluster === "large"),
    values["large-url"]!,
    Number(values["large-concurrency"]),
  ),
  pool(
    plan.filter((q) => q.cluster === "small"),
    values["small-url"]!,
    Number(values["small-concurrency"]),
  ),
]);

// Events arrive asynchronously after each query ends; wait for the stragglers.
const ids = outcomes.map((o) => o.queryId).filter((id) => id !== "");
const missing = await collector.waitFor(ids, 60_000);
// Queries of a failed POST or a client timeout have no id here but may still post an event.
await new Promise((r) => setTimeout(r, 2000));
await collector.close();

// Arrival order (roughly completion order), this run's queries only.
const own = new Set(ids);
const lines = [...collector.events].filter(([id]) => own.has(id)).map(([, e]) => JSON.stringify(e));
await writeLog(values.out!, lines, values.append);

if (values["outcomes-out"]) {
  await Deno.writeTextFile(
    values["outcomes-out"],
    outcomes.map((o) => JSON.stringify(o)).join("\n") + "\n",
  );
}

const byState = new Map<string, number>();
for (const o of outcomes) {
  const key = `${o.cluster}:${o.state}${o.errorName ? `:${o.errorName}` : ""}`;
  byState.set(key, (byState.get(key) ?? 0) + 1);
}
console.log(JSON.stringify(
  {
    planned: plan.length,
    queries: outcomes.length,
    events: collector.events.size,
    written: lines.length,
    missingEvents: missing.length,
    seconds: Math.round((Date.now() - started) / 1000),
    outcomes: Object.fromEntries([...byState].sort()),
  },
  null,
  2,
));
