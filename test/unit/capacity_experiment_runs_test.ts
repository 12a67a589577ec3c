// The experiment's analysis on hand-made runs: which queries count as light or heavy, what their
// latencies and failures are, and which server's CPU each completion event adds to.
import assert from "node:assert/strict";
import type { QueryCompletedEvent } from "../../src/labels/query_event.ts";
import {
  analyze,
  labelsOf,
  type Outcome,
  portOf,
  type RunResult,
} from "../../tools/capacity/experiment_runs.ts";

const THRESHOLDS = { cpuSeconds: 3, peakMemoryBytes: 128 * 2 ** 20 };
const PORTS = { 18183: "symmetric", 18181: "small", 18182: "large" };

function event(
  id: string,
  port: number,
  cpuTime: number,
  error?: { name: string; type: string },
): QueryCompletedEvent {
  return {
    metadata: {
      queryId: id,
      query: "SELECT 1",
      uri: `http://127.0.0.1:${port}/v1/query/${id}`,
    } as QueryCompletedEvent["metadata"],
    statistics: { cpuTime, peakUserMemoryBytes: 0 },
    context: {},
    failureInfo: error ? { errorCode: { name: error.name, type: error.type } } : undefined,
  };
}

function outcome(seq: number, queryId: string, state: string, elapsedMs: number): Outcome {
  return { seq, template: "t", queryId, state, rows: 0, elapsedMs };
}

function run(
  config: RunResult["config"],
  outcomes: Outcome[],
  events: QueryCompletedEvent[],
): RunResult {
  return { config, repeat: 0, seed: 1, outcomes, events, retries: 0, wallSeconds: 1, load: [0, 0] };
}

const CANCELLED = { name: "USER_CANCELED", type: "USER_ERROR" };
const QUEUE_FULL = { name: "QUERY_QUEUE_FULL", type: "INSUFFICIENT_RESOURCES" };

Deno.test("labels come from the symmetric run, then from the routed run's completed events only", () => {
  const symmetric = run("symmetric", [
    outcome(0, "s0", "FINISHED", 100), // light: 0.1 CPU-s
    outcome(1, "s1", "FINISHED", 9000), // heavy: 5 CPU-s
    outcome(2, "s2", "TIMEOUT", 90000), // cancelled: no label here
    outcome(3, "s3", "TIMEOUT", 90000), // cancelled here, queue-full on Small: still unknown
  ], [
    event("s0", 18183, 0.1),
    event("s1", 18183, 5),
    event("s2", 18183, 1, CANCELLED),
    event("s3", 18183, 1, CANCELLED),
  ]);
  const routed = run("routed", [
    outcome(0, "r0", "FINISHED", 80),
    outcome(1, "r1", "FINISHED", 12000),
    outcome(2, "r2", "FINISHED", 300),
    outcome(3, "r3", "FAILED", 50),
  ], [
    event("r0", 18181, 0.1),
    event("r1", 18182, 5),
    event("r2", 18181, 0.2),
    event("r3", 18181, 0, QUEUE_FULL),
  ]);
  const labels = labelsOf([symmetric, routed], THRESHOLDS);
  assert.deepEqual([...labels].sort(([a], [b]) => a - b), [
    [0, false],
    [1, true],
    [2, false], // from the routed run's finished event
    [3, null], // a light query can find Small's queue full: that failure labels nothing
  ]);
});

Deno.test("a resource failure the symmetric client saw without an event still counts as heavy", () => {
  const symmetric = run("symmetric", [{
    ...outcome(0, "", "FAILED", 10),
    errorName: "EXCEEDED_TIME_LIMIT",
    errorType: "INSUFFICIENT_RESOURCES",
  }], []);
  assert.equal(labelsOf([symmetric], THRESHOLDS).get(0), true);
});

Deno.test("per class: latencies of finished queries, the rest failures; CPU by the server's port", () => {
  const labels = new Map<number, boolean | null>([[0, false], [1, false], [2, true], [3, null]]);
  const routed = run("routed", [
    outcome(0, "a", "FINISHED", 100),
    { ...outcome(1, "", "CLIENT_ERROR", 5), errorName: "HTTP 503" },
    outcome(2, "c", "FINISHED", 20000),
    outcome(3, "d", "FAILED", 10),
  ], [
    event("a", 18181, 0.5),
    event("small-failed", 18181, 5, { name: "EXCEEDED_CPU_LIMIT", type: "INSUFFICIENT_RESOURCES" }),
    event("c", 18182, 7),
  ]);
  const a = analyze(routed, labels, PORTS);
  assert.deepEqual(a.light.latencies, [100]);
  assert.equal(a.light.queries, 2);
  assert.equal(a.light.failures, 1);
  assert.deepEqual(a.heavy.latencies, [20000]);
  assert.equal(a.heavy.failures, 0);
  assert.equal(a.unlabeled, 1);
  // Small burned 5.5 CPU-s (including the failed attempt before its retry), Large 7.
  assert.deepEqual(a.cpuSecondsByCluster, { small: 5.5, large: 7 });
  assert.deepEqual(a.eventsByCluster, { small: 2, large: 1 });
});

Deno.test("an event's server is the port in its query URI", () => {
  assert.equal(portOf(event("x", 18182, 0)), 18182);
  assert.ok(Number.isNaN(portOf({ metadata: { queryId: "y" }, statistics: {}, context: {} })));
});

Deno.test("each server's process CPU passes through beside the events' task CPU", () => {
  const measured = {
    ...run("routed", [outcome(0, "a", "FINISHED", 100)], [event("a", 18181, 0.5)]),
    processCpuSeconds: { small: 4.2, large: 1.1, symmetric: 0.3 },
  };
  const a = analyze(measured, new Map([[0, false]]), PORTS);
  assert.deepEqual(a.cpuSecondsByCluster, { small: 0.5 });
  assert.deepEqual(a.processCpuByServer, { small: 4.2, large: 1.1, symmetric: 0.3 });
  // Runs recorded before process CPU was measured have none.
  const old = run("routed", [outcome(0, "a", "FINISHED", 100)], [event("a", 18181, 0.5)]);
  assert.deepEqual(analyze(old, new Map([[0, false]]), PORTS).processCpuByServer, {});
});
