/**
 * Measures a fixture of hand-written queries on a real Trino cluster and records, per scale, the
 * CPU seconds, peak user memory, final state and the label the training rules give them
 * (`labelEvent` with the thresholds of `data/labels.json`). The fixture's queries carry a
 * `{scale}` placeholder; each runs once per scale, one at a time, with the random log's CPU cap
 * (`query_max_cpu_time=3s`: past it a query is heavy by the CPU rule anyway, and the cap keeps a
 * busy cluster's cost bounded). The report's "analyst" row reads these labels; nothing trains
 * on them.
 *
 * ```sh
 * deno run -A training/measure_queries.ts --fixture test/fixtures/analyst_queries.json \
 *   --url http://127.0.0.1:18082 [--only name,name] [--scales tiny,sf1]
 * ```
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { executeQuery } from "../tools/workload/trino_client.ts";
import {
  durationSeconds,
  labelEvent,
  type QueryCompletedEvent,
} from "../src/labels/query_event.ts";
import { thresholdsFromJson } from "./query_log.ts";

/** What one execution of a fixture query measured. */
export interface Measurement {
  readonly cpuSeconds: number;
  readonly peakUserMemoryBytes: number;
  readonly state: string;
  readonly error?: string;
  /** The training label (`null`: an unrelated failure, no label). */
  readonly heavy: boolean | null;
  readonly because: string;
  readonly queryId: string;
  readonly cluster: string;
  readonly measuredAt: string;
}

/** One fixture query: SQL with `{scale}`, and what it measured per scale. */
export interface FixtureQuery {
  readonly name: string;
  readonly sql: string;
  readonly measured?: Readonly<Record<string, Measurement>>;
}

/** Binary units of airlift `DataSize` strings (`12.5MB`). */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
  PB: 1024 ** 5,
};

/**
 * Bytes of an airlift `DataSize` string as `/v1/query/{id}` reports it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dataSizeBytes } from "./measure_queries.ts";
 * assert.equal(dataSizeBytes("104B"), 104);
 * assert.equal(dataSizeBytes("1.50MB"), 1.5 * 1024 ** 2);
 * assert.ok(Number.isNaN(dataSizeBytes("lots")));
 * ```
 */
export function dataSizeBytes(value: unknown): number {
  const m = typeof value === "string" ? /^\s*([\d.]+)\s*(B|kB|MB|GB|TB|PB)\s*$/.exec(value) : null;
  return m ? Number(m[1]) * SIZE_UNITS[m[2]] : Number.NaN;
}

/**
 * The label of one finished query from its `/v1/query/{id}` info: the same rules and thresholds
 * as the training log's completion events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { labelQueryInfo } from "./measure_queries.ts";
 * const thresholds = { cpuSeconds: 3, peakMemoryBytes: 128 * 1024 ** 2 };
 * const info = { queryId: "q", state: "FINISHED", queryStats: { totalCpuTime: "2.50s", peakUserMemoryReservation: "3MB" } };
 * assert.deepEqual(labelQueryInfo(info, thresholds).heavy, false);
 * const capped = { ...info, state: "FAILED", errorCode: { name: "EXCEEDED_CPU_LIMIT", type: "INSUFFICIENT_RESOURCES" } };
 * assert.equal(labelQueryInfo(capped, thresholds).because, "resource-error");
 * ```
 */
export function labelQueryInfo(
  info: {
    queryId?: string;
    state?: string;
    queryStats?: { totalCpuTime?: string; peakUserMemoryReservation?: string };
    errorCode?: { name?: string; type?: string; code?: number };
  },
  thresholds: { cpuSeconds: number; peakMemoryBytes: number },
): { heavy: boolean | null; because: string; cpuSeconds: number; peakUserMemoryBytes: number } {
  const cpuSeconds = durationSeconds(info.queryStats?.totalCpuTime);
  const peakUserMemoryBytes = dataSizeBytes(info.queryStats?.peakUserMemoryReservation);
  const event: QueryCompletedEvent = {
    metadata: { queryId: info.queryId ?? "" },
    statistics: { cpuTime: cpuSeconds, peakUserMemoryBytes },
    context: {},
    failureInfo: info.state === "FAILED" && info.errorCode
      ? { errorCode: { name: info.errorCode.name, type: info.errorCode.type } }
      : null,
  } as QueryCompletedEvent;
  const label = labelEvent(event, thresholds, "read");
  return { heavy: label.heavy, because: label.because, cpuSeconds, peakUserMemoryBytes };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      fixture: { type: "string", default: "test/fixtures/analyst_queries.json" },
      url: { type: "string", default: "http://127.0.0.1:18082" },
      labels: { type: "string", default: "data/labels.json" },
      scales: { type: "string", default: "tiny,sf1" },
      only: { type: "string" },
      "max-cpu": { type: "string", default: "3s" },
    },
  });
  const thresholds = thresholdsFromJson(JSON.parse(await readFile(values.labels!, "utf8")));
  const fixture = JSON.parse(await readFile(values.fixture!, "utf8")) as {
    queries: FixtureQuery[];
  };
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  const url = values.url!;
  for (const [k, query] of fixture.queries.entries()) {
    if (only && !only.has(query.name)) continue;
    const measured: Record<string, Measurement> = { ...query.measured };
    for (const scale of values.scales!.split(",")) {
      const outcome = await executeQuery(url, query.sql.replaceAll("{scale}", scale), {
        user: "analyst-fixture",
        source: "measure_queries",
        sessionProperties: { query_max_cpu_time: values["max-cpu"]! },
      }, { timeoutMs: 180_000 });
      const info = await (await fetch(`${url}/v1/query/${outcome.queryId}`, {
        headers: { "X-Trino-User": "analyst-fixture" },
      })).json();
      const label = labelQueryInfo(info, thresholds);
      measured[scale] = {
        cpuSeconds: Math.round(label.cpuSeconds * 1000) / 1000,
        peakUserMemoryBytes: label.peakUserMemoryBytes,
        state: info.state ?? outcome.state,
        ...(info.errorCode?.name ? { error: info.errorCode.name } : {}),
        heavy: label.heavy,
        because: label.because,
        queryId: outcome.queryId,
        cluster: url,
        measuredAt: new Date().toISOString(),
      };
      console.log(`${query.name} ${scale}: ${JSON.stringify(measured[scale])}`);
    }
    fixture.queries[k] = { ...query, measured };
    // Written after every query: a long run stopped halfway keeps what it measured.
    await writeFile(values.fixture!, JSON.stringify(fixture, null, 2) + "\n");
  }
}
