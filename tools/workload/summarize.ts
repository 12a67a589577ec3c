/**
 * Prints the class balance, CPU-time distribution and 70/15/15 time split of a query log
 * (JSON Lines of Trino `QueryCompletedEvent`s, optionally gzip), labeled by the shared rules.
 *
 * Usage: `deno run -A tools/workload/summarize.ts data/query_log.jsonl.gz [more logs…] [--labels data/labels.json]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { lex } from "../../src/sql/lexer.ts";
import { statementKind } from "../../src/sql/statement_kind.ts";

import {
  durationSeconds,
  labelEvent,
  type LabelThresholds,
  type QueryCompletedEvent,
} from "../../src/labels/query_event.ts";

/** Reads every event of a log; gzip is detected by its magic bytes. */
export async function readLog(path: string): Promise<QueryCompletedEvent[]> {
  const bytes = await Deno.readFile(path);
  const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const text = gzip
    ? await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")))
      .text()
    : new TextDecoder().decode(bytes);
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** Summary of a labeled log. */
export interface LogSummary {
  readonly lines: number;
  readonly kept: number;
  readonly droppedUnrelatedFailures: number;
  readonly droppedDuplicates: number;
  readonly heavy: number;
  readonly heavyShare: number;
  readonly because: Record<string, number>;
  readonly byEnvironment: Record<string, { kept: number; heavy: number }>;
  /** By the scale the SQL's tables name (`sf1` if any table is sf1) and cluster. */
  readonly byScale: Record<string, { kept: number; heavy: number }>;
  /** Random-generator rows: distinct families (`context.clientInfo`) and generators. */
  readonly families: number;
  readonly generators: Record<string, number>;
  /** Kept rows heavy only by the wall-clock limit, with less than the CPU threshold. */
  readonly timeLimitBelowCpuThreshold: number;
  readonly statementKinds: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly cpuSecondsQuantiles: Record<string, number>;
  readonly cpuSecondsHistogram: Record<string, number>;
  readonly peakMemoryMiBQuantiles: Record<string, number>;
  readonly split: {
    readonly rule: string;
    readonly first: string;
    readonly validStart: string;
    readonly testStart: string;
    readonly last: string;
    readonly counts: Record<string, { rows: number; heavy: number }>;
  };
}

/** `sf1` when any table the query read is in schema sf1, else the first schema, else `none`. */
function scaleOf(e: QueryCompletedEvent): string {
  const tables = (e.metadata as { tables?: Array<{ schema?: string }> }).tables ?? [];
  const schemas = tables.map((x) => x.schema ?? "");
  return schemas.includes("sf1") ? "sf1" : schemas[0] || "none";
}

/** The random generator's `X-Trino-Client-Info` JSON (`{}` for other queries). */
function clientInfoOf(e: QueryCompletedEvent): { generator?: string; family?: string } {
  const info = (e.context as { clientInfo?: string }).clientInfo;
  try {
    const parsed = info ? JSON.parse(info) : {};
    return typeof parsed === "object" && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}

/** createTime in epoch ms: Trino 476 posts an ISO-8601 string; numbers are read as seconds. */
function createTimeMs(e: QueryCompletedEvent): number {
  const t = e.createTime;
  return typeof t === "number" ? t * 1000 : Date.parse(t ?? "");
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * Labels and summarizes events: unrelated failures dropped, the last line of a repeated query
 * id kept, the split cut at the 70% and 85% quantiles of createTime among kept rows.
 */
export function summarize(events: readonly QueryCompletedEvent[], t: LabelThresholds): LogSummary {
  const last = new Map<string, QueryCompletedEvent>();
  for (const e of events) last.set(e.metadata.queryId, e);
  const inc = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
  const because: Record<string, number> = {};
  const kinds: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const byEnv: Record<string, { kept: number; heavy: number }> = {};
  const byScale: Record<string, { kept: number; heavy: number }> = {};
  const families = new Set<string>();
  const generators: Record<string, number> = {};
  let timeLimitLight = 0;
  const rows: Array<{ time: number; heavy: boolean; cpu: number; mem: number }> = [];
  let unrelated = 0;
  for (const e of last.values()) {
    // Same lexer and token cap as the featurizer, so the kind matches what the router computes.
    const kind = statementKind(lex(e.metadata.query ?? "").tokens);
    const err = e.failureInfo?.errorCode;
    if (err) inc(errors, `${err.type}:${err.name}`);
    const label = labelEvent(e, t, kind);
    if (label.heavy === null) {
      unrelated++;
      continue;
    }
    inc(kinds, kind);
    inc(because, label.because);
    const env = (e.context as { environment?: string }).environment ?? "?";
    const scale = scaleOf(e);
    for (const [m, k] of [[byEnv, env], [byScale, scale], [byScale, `${scale}/${env}`]] as const) {
      m[k] ??= { kept: 0, heavy: 0 };
      m[k].kept++;
      if (label.heavy) m[k].heavy++;
    }
    const info = clientInfoOf(e);
    if (info.generator) inc(generators, info.generator);
    if (info.family) families.add(info.family);
    if (
      err?.name === "EXCEEDED_TIME_LIMIT" &&
      (durationSeconds(e.statistics.cpuTime) || 0) < t.cpuSeconds
    ) timeLimitLight++;
    rows.push({
      time: createTimeMs(e),
      heavy: label.heavy,
      cpu: durationSeconds(e.statistics.cpuTime) || 0,
      mem: e.statistics.peakUserMemoryBytes ?? 0,
    });
  }
  rows.sort((a, b) => a.time - b.time);
  const times = rows.map((r) => r.time);
  const validStart = quantile(times, 0.70);
  const testStart = quantile(times, 0.85);
  const split = (time: number) => time < validStart ? "train" : time < testStart ? "valid" : "test";
  const counts: Record<string, { rows: number; heavy: number }> = {};
  for (const r of rows) {
    const s = split(r.time);
    counts[s] ??= { rows: 0, heavy: 0 };
    counts[s].rows++;
    if (r.heavy) counts[s].heavy++;
  }
  const cpu = rows.map((r) => r.cpu).sort((a, b) => a - b);
  const mem = rows.map((r) => r.mem / 2 ** 20).sort((a, b) => a - b);
  const qs = [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const histogram: Record<string, number> = {};
  const edges = [0.1, 0.5, 1, 2, 3, 5, 10, 30, 60, Infinity];
  for (const c of cpu) {
    const i = edges.findIndex((edge) => c < edge);
    inc(histogram, `<${edges[i]}s`);
  }
  const heavy = rows.filter((r) => r.heavy).length;
  const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : "");
  return {
    lines: events.length,
    kept: rows.length,
    droppedUnrelatedFailures: unrelated,
    droppedDuplicates: events.length - last.size,
    heavy,
    heavyShare: round(heavy / Math.max(1, rows.length)),
    because,
    byEnvironment: byEnv,
    byScale,
    families: families.size,
    generators,
    timeLimitBelowCpuThreshold: timeLimitLight,
    statementKinds: kinds,
    errors,
    cpuSecondsQuantiles: Object.fromEntries(
      qs.map((q) => [`p${q * 100}`, round(quantile(cpu, q))]),
    ),
    cpuSecondsHistogram: histogram,
    peakMemoryMiBQuantiles: Object.fromEntries(
      qs.map((q) => [`p${q * 100}`, round(quantile(mem, q))]),
    ),
    split: {
      rule: "kept rows sorted by createTime; train < validStart <= valid < testStart <= test " +
        "(validStart/testStart = createTime at the 70%/85% positions)",
      first: iso(times[0]),
      validStart: iso(validStart),
      testStart: iso(testStart),
      last: iso(times[times.length - 1]),
      counts,
    },
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      labels: { type: "string", default: "data/labels.json" },
      "cpu-seconds": { type: "string" },
      "peak-memory-bytes": { type: "string" },
    },
  });
  // Several logs (e.g. data/random_log/chunk-*.jsonl.gz) are summarized as one.
  const paths = positionals.length ? positionals : ["data/query_log.jsonl.gz"];
  let thresholds: LabelThresholds;
  if (values["cpu-seconds"]) {
    thresholds = {
      cpuSeconds: Number(values["cpu-seconds"]),
      peakMemoryBytes: Number(values["peak-memory-bytes"] ?? 128 * 2 ** 20),
    };
  } else {
    thresholds = JSON.parse(await Deno.readTextFile(values.labels!)) as LabelThresholds;
  }
  const events = (await Promise.all(paths.map(readLog))).flat();
  const summary = summarize(events, thresholds);
  const log = paths.length === 1 ? paths[0] : paths;
  console.log(JSON.stringify({ log, thresholds, ...summary }, null, 2));
}
