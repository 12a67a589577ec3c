/**
 * The experiment's recorded runs and their analysis: what each client query did, light/heavy by
 * the label rules, latency and failures per class, CPU-seconds per server. Pure functions, no I/O.
 *
 * @module
 */

import {
  durationSeconds,
  labelEvent,
  type LabelThresholds,
  type QueryCompletedEvent,
} from "../../src/labels/query_event.ts";
import { eventStatementKind } from "../../training/query_log.ts";
import type { QueryOutcome } from "../workload/trino_client.ts";
import { type LatencySummary, summarizeLatency } from "./latency.ts";

/** What the client saw of one planned query in one run. */
export interface Outcome extends QueryOutcome {
  readonly seq: number;
  readonly template: string;
}

/** One configuration run once. */
export interface RunResult {
  readonly config: "symmetric" | "routed";
  readonly repeat: number;
  readonly seed: number;
  readonly outcomes: readonly Outcome[];
  /** Completion events of this run's queries (all instances), slimmed. */
  readonly events: readonly QueryCompletedEvent[];
  /** ext_proc retries during the run (router metric delta); 0 for symmetric. */
  readonly retries: number;
  readonly wallSeconds: number;
  /** /proc/loadavg (1 min) at start and end: the machine is shared. */
  readonly load: readonly [number, number];
  /**
   * Each Trino server's process CPU-seconds (`/proc/<pid>/stat` user + system) from the first
   * arrival until every query ended (`wallSeconds`), by server name; the idle servers too. Absent
   * in runs recorded before it was measured.
   */
  readonly processCpuSeconds?: Readonly<Record<string, number>>;
  /**
   * Routed runs: the router's decisions by "class/reason" over the run (a fresh router per run, so
   * a template-cache entry from an earlier run cannot steer this one). Absent in older runs.
   */
  readonly decisions?: Readonly<Record<string, number>>;
}

/** The instance (by port) that ran an event. */
export function portOf(event: QueryCompletedEvent): number {
  const uri = (event.metadata as { uri?: string }).uri ?? "";
  return Number(/:(\d+)\//.exec(uri)?.[1] ?? NaN);
}

/** Per-class statistics of one run. */
export interface ClassStats {
  readonly latency: LatencySummary;
  readonly latencies: readonly number[];
  readonly failures: number;
  readonly queries: number;
}

/** The analysis of one run, classes by the symmetric run's labels. */
export interface RunAnalysis {
  readonly config: RunResult["config"];
  readonly repeat: number;
  readonly light: ClassStats;
  readonly heavy: ClassStats;
  readonly unlabeled: number;
  readonly retries: number;
  /** Task CPU-seconds of the run's completion events, by server. */
  readonly cpuSecondsByCluster: Readonly<Record<string, number>>;
  /** Completion events (queries and failed attempts) by server. */
  readonly eventsByCluster: Readonly<Record<string, number>>;
  /** Process CPU-seconds of each server over the run ({} when not measured). */
  readonly processCpuByServer: Readonly<Record<string, number>>;
  readonly wallSeconds: number;
  readonly load: readonly [number, number];
}

/**
 * Light/heavy of every planned query by the label rules: from the symmetric run's completion
 * event, else (that one was cancelled or failed for an unrelated reason) from the routed run's
 * final one; `null` when neither labels it (e.g. a user error).
 */
export function labelsOf(
  runs: readonly RunResult[],
  thresholds: LabelThresholds,
): Map<number, boolean | null> {
  const labels = new Map<number, boolean | null>();
  runs.forEach((run, k) => {
    // A fallback run's failures say nothing about the query (a light query can find Small's
    // queue full): only its completed events label.
    const usable = k === 0 ? run.events : run.events.filter((e) => !e.failureInfo?.errorCode);
    const byId = new Map(usable.map((e) => [e.metadata.queryId, e]));
    for (const o of run.outcomes) {
      if ((labels.get(o.seq) ?? null) !== null) continue;
      const event = byId.get(o.queryId);
      const label = event
        ? labelEvent(event, thresholds, eventStatementKind(event)).heavy
        : k === 0 && o.errorType === "INSUFFICIENT_RESOURCES"
        ? true
        : null;
      labels.set(o.seq, label);
    }
  });
  return labels;
}

/** Latency, failures and CPU of one run, light/heavy by `labels`, servers by `ports`. */
export function analyze(
  result: RunResult,
  labels: Map<number, boolean | null>,
  ports: Readonly<Record<number, string>>,
): RunAnalysis {
  const cls = (heavy: boolean): ClassStats => {
    const rows = result.outcomes.filter((o) => labels.get(o.seq) === heavy);
    const ok = rows.filter((o) => o.state === "FINISHED");
    return {
      latency: summarizeLatency(ok.map((o) => o.elapsedMs)),
      latencies: ok.map((o) => o.elapsedMs),
      failures: rows.length - ok.length,
      queries: rows.length,
    };
  };
  const cpu: Record<string, number> = {}, count: Record<string, number> = {};
  for (const e of result.events) {
    const cluster = ports[portOf(e)] ?? "other";
    cpu[cluster] = (cpu[cluster] ?? 0) + (durationSeconds(e.statistics.cpuTime) || 0);
    count[cluster] = (count[cluster] ?? 0) + 1;
  }
  return {
    config: result.config,
    repeat: result.repeat,
    light: cls(false),
    heavy: cls(true),
    unlabeled: result.outcomes.filter((o) => (labels.get(o.seq) ?? null) === null).length,
    retries: result.retries,
    cpuSecondsByCluster: cpu,
    eventsByCluster: count,
    processCpuByServer: result.processCpuSeconds ?? {},
    wallSeconds: result.wallSeconds,
    load: result.load,
  };
}
