import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { createFeedbackLoop, type FeedbackOptions } from "../../src/feedback/feedback_loop.ts";
import { registerFeedbackMetrics } from "../../src/feedback/feedback_metrics.ts";
import { PRODUCTION_THRESHOLDS } from "../../src/labels/query_event.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/store.ts";
import { completedEvent, routed } from "./_feedback_events.ts";

const RESOURCE: readonly [string, string] = ["EXCEEDED_CPU_LIMIT", "INSUFFICIENT_RESOURCES"];

function setup(options: Partial<FeedbackOptions> = {}) {
  const store = new MemoryStore();
  const lines: Record<string, unknown>[] = [];
  const feedback = createFeedbackLoop({ store, log: (line) => lines.push(line), ...options });
  return { store, feedback, lines };
}

Deno.test("a light query predicted light counts as a true negative of its model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1"));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(outcome.joined, true);
  assert.equal(outcome.predicted, "light");
  assert.equal(outcome.actual, "light");
  assert.deepEqual(feedback.confusion(), {
    v1: { truePositive: 0, falseNegative: 0, trueNegative: 1, falsePositive: 0 },
  });
});

Deno.test("a query over the CPU threshold predicted light is a false negative", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1"));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 300 }));
  assert.equal(outcome.actual, "heavy");
  assert.equal(outcome.because, "cpu");
  assert.equal(feedback.confusion().v1.falseNegative, 1);
});

Deno.test("a light query predicted heavy is a false positive", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1", { decision: "heavy", targetCluster: "large" }));
  await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(feedback.confusion().v1.falsePositive, 1);
});

Deno.test("confusion counts are kept apart per model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision("a", routed("a", { modelVersion: "v1" }));
  await store.putDecision("b", routed("b", { modelVersion: "v2", decision: "heavy" }));
  await feedback.handleEvent(completedEvent({ queryId: "a", cpuSeconds: 500 }));
  await feedback.handleEvent(completedEvent({ queryId: "b", peakMemoryBytes: 11 * 1024 ** 3 }));
  const snapshot = feedback.confusion();
  assert.equal(snapshot.v1.falseNegative, 1);
  assert.equal(snapshot.v2.truePositive, 1);
});

Deno.test("a failure unrelated to resources has no label and no confusion count", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1"));
  const outcome = await feedback.handleEvent(
    completedEvent({ queryId: "q1", error: ["SYNTAX_ERROR", "USER_ERROR"] }),
  );
  assert.equal(outcome.actual, null);
  assert.deepEqual(feedback.confusion(), {});
  assert.deepEqual(feedback.stats().events, { "small|unlabeled": 1 });
});

Deno.test("an event without a stored decision is labelled but not counted in the matrix", async () => {
  const { feedback } = setup();
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q9", cpuSeconds: 400 }));
  assert.equal(outcome.joined, false);
  assert.equal(outcome.actual, "heavy");
  assert.equal(outcome.cluster, "unknown");
  assert.deepEqual(feedback.confusion(), {});
  assert.deepEqual(feedback.stats().events, { "unknown|unjoined": 1 });
});

Deno.test("a write is labelled heavy whatever it cost, as in training", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1", { statementKind: "write", decision: "heavy" }));
  const outcome = await feedback.handleEvent(
    completedEvent({ queryId: "q1", sql: "INSERT INTO t VALUES 1" }),
  );
  assert.equal(outcome.because, "write");
  const unjoined = await feedback.handleEvent(
    completedEvent({ queryId: "q2", sql: "insert into t select * from u" }),
  );
  assert.equal(unjoined.because, "write");
});

Deno.test("the label thresholds come from configuration", async () => {
  const { feedback } = setup({ thresholds: { cpuSeconds: 10, peakMemoryBytes: 1024 ** 3 } });
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 12 }));
  assert.equal(outcome.actual, "heavy");
  const production = setup({ thresholds: PRODUCTION_THRESHOLDS }).feedback;
  assert.equal(
    (await production.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 12 }))).actual,
    "light",
  );
});

Deno.test("Trino's duration strings are read like its decimal seconds", async () => {
  const { feedback } = setup();
  const event = completedEvent({ queryId: "q1" });
  const outcome = await feedback.handleEvent({
    ...event,
    statistics: { ...event.statistics, cpuTime: "5.50m" },
  });
  assert.equal(outcome.because, "cpu");
});

Deno.test("a resource failure on Small puts the decision's template in the cache", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1", { templateFingerprint: "feedfacefeedface" }));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.markedTemplate, true);
  assert.equal(outcome.actual, "heavy");
  assert.equal(await store.isTemplateHeavy("feedfacefeedface"), true);
  assert.equal(feedback.stats().templateMarks, 1);
});

Deno.test("an unjoined resource failure reported by Small marks the template of its SQL", async () => {
  const { store, feedback } = setup();
  await feedback.handleEvent(
    completedEvent({
      queryId: "q1",
      sql: "SELECT count(*) FROM lineitem WHERE shipdate >= DATE '2025-08-10'",
      error: ["EXCEEDED_GLOBAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
    }),
    "small",
  );
  // The next run of the same template, with other literals, is a cache hit.
  const next = sqlTemplateFingerprint(
    "select count(*)  from lineitem where shipdate >= date '2025-08-11'",
  );
  assert.equal(await store.isTemplateHeavy(next), true);
});

Deno.test("a resource failure on Large does not touch the template cache", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1", { decision: "heavy", targetCluster: "large" }));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.markedTemplate, false);
  assert.equal(await store.isTemplateHeavy("0123456789abcdef"), false);
});

Deno.test("the cluster in the event path wins over the decision's target", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1", { targetCluster: "small" }));
  const outcome = await feedback.handleEvent(
    completedEvent({ queryId: "q1", error: RESOURCE }),
    "large",
  );
  assert.equal(outcome.cluster, "large");
  assert.equal(outcome.markedTemplate, false);
});

Deno.test("a full queue on Small is labelled heavy but does not mark the template", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1"));
  const outcome = await feedback.handleEvent(
    completedEvent({ queryId: "q1", error: ["QUERY_QUEUE_FULL", "INSUFFICIENT_RESOURCES"] }),
  );
  assert.equal(outcome.actual, "heavy");
  assert.equal(outcome.markedTemplate, false);
  assert.equal(await store.isTemplateHeavy("0123456789abcdef"), false);
});

Deno.test("the labeled log holds the original event plus the routing decision, one per line", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const { store, feedback } = setup({ labeledLogPath: path });
    await store.putDecision("q1", routed("q1"));
    const joined = completedEvent({ queryId: "q1" });
    await feedback.handleEvent(joined);
    await feedback.handleEvent(completedEvent({ queryId: "q2" }));
    await feedback.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], { ...joined, routing: routed("q1") });
    assert.equal(lines[1].routing, null);
    assert.equal(lines[1].metadata.queryId, "q2");
    assert.equal(feedback.stats().labeledLog.written, 2);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("log lines carry the outcome and never the SQL", async () => {
  const { store, feedback, lines } = setup();
  const sql = "SELECT secret_column FROM payroll WHERE ssn = '123-45-6789'";
  await store.putDecision("q1", routed("q1"));
  await feedback.handleEvent(completedEvent({ queryId: "q1", sql, error: RESOURCE }));
  await feedback.handleEvent(completedEvent({ queryId: "q2", sql }));
  const text = JSON.stringify(lines);
  assert.equal(lines.length, 2);
  assert.ok(!text.includes("payroll") && !text.includes("123-45-6789"), text);
  assert.equal(lines[0].msg, "query completed");
  assert.equal(lines[0].queryId, "q1");
  assert.equal(lines[0].errorName, "EXCEEDED_CPU_LIMIT");
});

Deno.test("a labeled log that cannot be written costs a counter, not an exception", async () => {
  const { feedback } = setup({ labeledLogPath: "/nonexistent-dir/labeled.jsonl" });
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(outcome.logged, false);
  assert.deepEqual(feedback.stats().labeledLog, { written: 0, failed: 1 });
});

Deno.test("replicas sharing a store report fleet-wide confusion counts", async () => {
  const store = new MemoryStore();
  const a = createFeedbackLoop({ store, log: () => {} });
  const b = createFeedbackLoop({ store, log: () => {} });
  await store.putDecision("q1", routed("q1"));
  await store.putDecision("q2", routed("q2"));
  await a.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 900 }));
  await b.handleEvent(completedEvent({ queryId: "q2" }));
  assert.equal(a.confusion().v1.trueNegative, 0);
  assert.deepEqual(await a.sharedConfusion(), {
    v1: { truePositive: 0, falseNegative: 1, trueNegative: 1, falsePositive: 0 },
  });
});

Deno.test("a store that throws never makes the feedback loop reject", async () => {
  const broken = new Proxy(new MemoryStore(), {
    get: (target, name) =>
      name === "getDecision" ? () => Promise.reject(new Error("boom")) : Reflect.get(target, name),
  }) as Store;
  const lines: Record<string, unknown>[] = [];
  const feedback = createFeedbackLoop({ store: broken, log: (line) => lines.push(line) });
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(outcome.actual, null);
  assert.equal(feedback.stats().failed, 1);
  assert.equal(lines[0].level, "error");
});

Deno.test("accept handles events in the background and refuses past its in-flight cap", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const store = new MemoryStore();
  const slow = new Proxy(store, {
    get: (target, name) =>
      name === "getDecision"
        ? (id: string) => gate.then(() => target.getDecision(id))
        : Reflect.get(target, name),
  }) as Store;
  const feedback = createFeedbackLoop({ store: slow, maxInFlight: 2, log: () => {} });
  assert.equal(feedback.accept(completedEvent({ queryId: "a" })), true);
  assert.equal(feedback.accept(completedEvent({ queryId: "b" })), true);
  assert.equal(feedback.accept(completedEvent({ queryId: "c" })), false);
  assert.equal(feedback.stats().dropped, 1);
  release();
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, { "unknown|unjoined": 2 });
  assert.equal(feedback.accept(completedEvent({ queryId: "d" })), true);
  await feedback.close();
});

Deno.test("the feedback metrics expose confusion counts and live rates per model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision("q1", routed("q1"));
  await store.putDecision("q2", routed("q2"));
  await store.putDecision("q3", routed("q3", { decision: "heavy" }));
  await feedback.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 1_000 }), "small");
  await feedback.handleEvent(completedEvent({ queryId: "q2" }), "small");
  await feedback.handleEvent(completedEvent({ queryId: "q3", cpuSeconds: 1_000 }), "large");
  const registry = new Registry();
  registerFeedbackMetrics(registry, feedback);
  const text = await registry.metrics();
  const has = (line: string) => assert.ok(text.includes(line), `missing ${line} in\n${text}`);
  has(
    'trino_router_feedback_confusion_total{model_version="v1",predicted="light",actual="heavy"} 1',
  );
  has(
    'trino_router_feedback_confusion_total{model_version="v1",predicted="heavy",actual="heavy"} 1',
  );
  has(
    'trino_router_feedback_confusion_total{model_version="v1",predicted="light",actual="light"} 1',
  );
  has('trino_router_feedback_false_negative_rate{model_version="v1"} 0.5');
  has('trino_router_feedback_false_positive_rate{model_version="v1"} 0');
  has('trino_router_feedback_events_total{cluster="small",result="joined"} 2');
  has('trino_router_feedback_events_total{cluster="large",result="joined"} 1');
  has("trino_router_template_cache_marks_total 0");
  // A second scrape gives the same totals (counters are mirrored, not re-added).
  assert.equal(await registry.metrics(), text);
});

Deno.test("a Small cluster named by its address, as the router's target, is recognised", async () => {
  const { store, feedback } = setup({ smallCluster: "trino-small:8080" });
  await store.putDecision("q1", routed("q1", { targetCluster: "trino-small:8080" }));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.cluster, "trino-small:8080");
  assert.equal(outcome.markedTemplate, true);
});

Deno.test("without a cluster in the URL, the event's node.environment names the cluster", async () => {
  const store = new MemoryStore();
  const feedback = createFeedbackLoop({ store, log: () => {} });
  const outcome = await feedback.handleEvent(
    completedEvent({
      queryId: "q-env",
      environment: "small",
      error: ["EXCEEDED_LOCAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
    }),
  );
  assert.equal(outcome.cluster, "small");
  assert.equal(outcome.markedTemplate, true);
});
