import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { createFeedbackLoop, type FeedbackOptions } from "../../src/feedback/feedback_loop.ts";
import { registerFeedbackMetrics } from "../../src/feedback/feedback_metrics.ts";
import { PRODUCTION_THRESHOLDS } from "../../src/labels/query_event.ts";
import { sqlTemplateFingerprint } from "../../src/sql/normalize.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/store.ts";
import { completedEvent, recordKey, routed } from "./_feedback_events.ts";

const RESOURCE: readonly [string, string] = ["EXCEEDED_CPU_LIMIT", "INSUFFICIENT_RESOURCES"];

function setup(options: Partial<FeedbackOptions> = {}) {
  const store = new MemoryStore();
  const lines: Record<string, unknown>[] = [];
  const feedback = createFeedbackLoop({ store, log: (line) => lines.push(line), ...options });
  return { store, feedback, lines };
}

Deno.test("a light query predicted light counts as a true negative of its model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
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
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", cpuSeconds: 300 }));
  assert.equal(outcome.actual, "heavy");
  assert.equal(outcome.because, "cpu");
  assert.equal(feedback.confusion().v1.falseNegative, 1);
});

Deno.test("a light query predicted heavy is a false positive", async () => {
  const { store, feedback } = setup();
  await store.putDecision(
    recordKey({ queryId: "q1" }),
    routed("q1", { decision: "heavy", targetCluster: "large" }),
  );
  await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(feedback.confusion().v1.falsePositive, 1);
});

Deno.test("confusion counts are kept apart per model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "a" }), routed("a", { modelVersion: "v1" }));
  await store.putDecision(
    recordKey({ queryId: "b" }),
    routed("b", { modelVersion: "v2", decision: "heavy" }),
  );
  await feedback.handleEvent(completedEvent({ queryId: "a", cpuSeconds: 500 }));
  await feedback.handleEvent(completedEvent({ queryId: "b", peakMemoryBytes: 11 * 1024 ** 3 }));
  const snapshot = feedback.confusion();
  assert.equal(snapshot.v1.falseNegative, 1);
  assert.equal(snapshot.v2.truePositive, 1);
});

Deno.test("a failure unrelated to resources has no label and no confusion count", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
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
  await store.putDecision(
    recordKey({ queryId: "q1" }),
    routed("q1", { statementKind: "write", decision: "heavy" }),
  );
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
  await store.putDecision(
    recordKey({ queryId: "q1" }),
    routed("q1", { templateFingerprint: "feedfacefeedface" }),
  );
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.markedTemplate, true);
  assert.equal(outcome.actual, "heavy");
  assert.equal(await store.isTemplateHeavy("feedfacefeedface"), true);
  assert.equal(feedback.stats().templateMarks, 1);
});

Deno.test("a resource failure of a query the router never decided marks no template", async () => {
  const { store, feedback } = setup();
  const sql = "SELECT count(*) FROM lineitem WHERE shipdate >= DATE '2025-08-10'";
  const forged = {
    sql,
    error: ["EXCEEDED_GLOBAL_MEMORY_LIMIT", "INSUFFICIENT_RESOURCES"],
  } as const;
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", ...forged }), "small");
  assert.equal(outcome.joined, false);
  assert.equal(outcome.markedTemplate, false);
  const next = sqlTemplateFingerprint(
    "select count(*)  from lineitem where shipdate >= date '2025-08-11'",
  );
  assert.equal(await store.isTemplateHeavy(next), false);
  // The same failure of a query the router did send to Small marks it: the next run of the
  // template, with other literals, is a cache hit.
  await store.putDecision(
    recordKey({ queryId: "q2", sql }),
    routed("q2", { templateFingerprint: sqlTemplateFingerprint(sql) }),
  );
  await feedback.handleEvent(completedEvent({ queryId: "q2", ...forged }), "small");
  assert.equal(await store.isTemplateHeavy(next), true);
});

Deno.test("a resource failure on Large does not touch the template cache", async () => {
  const { store, feedback } = setup();
  await store.putDecision(
    recordKey({ queryId: "q1" }),
    routed("q1", { decision: "heavy", targetCluster: "large" }),
  );
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.markedTemplate, false);
  assert.equal(await store.isTemplateHeavy("0123456789abcdef"), false);
});

Deno.test("the cluster in the event path wins over the decision's target", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1", { targetCluster: "small" }));
  const outcome = await feedback.handleEvent(
    completedEvent({ queryId: "q1", error: RESOURCE }),
    "large",
  );
  assert.equal(outcome.cluster, "large");
  assert.equal(outcome.markedTemplate, false);
});

Deno.test("a full queue on Small is labelled heavy but does not mark the template", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
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
    await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
    await store.putDecision(recordKey({ queryId: "q3" }), routed("q3"));
    const joined = completedEvent({ queryId: "q1" });
    await feedback.handleEvent(joined);
    // Not decided by the router: not training data.
    await feedback.handleEvent(completedEvent({ queryId: "q2" }));
    await feedback.handleEvent(completedEvent({ queryId: "q3" }));
    await feedback.close();
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], { ...joined, routing: routed("q1") });
    assert.equal(lines[1].metadata.queryId, "q3");
    assert.equal(feedback.stats().labeledLog.written, 2);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("log lines carry the outcome and never the SQL", async () => {
  const { store, feedback, lines } = setup();
  const sql = "SELECT secret_column FROM payroll WHERE ssn = '123-45-6789'";
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
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
  const { store, feedback } = setup({ labeledLogPath: "/nonexistent-dir/labeled.jsonl" });
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1" }));
  assert.equal(outcome.logged, false);
  assert.deepEqual(feedback.stats().labeledLog, { written: 0, failed: 1, overLimit: 0 });
});

Deno.test("replicas sharing a store report fleet-wide confusion counts", async () => {
  const store = new MemoryStore();
  const a = createFeedbackLoop({ store, log: () => {} });
  const b = createFeedbackLoop({ store, log: () => {} });
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  await store.putDecision(recordKey({ queryId: "q2" }), routed("q2"));
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
      name === "takeDecision" ? () => Promise.reject(new Error("boom")) : Reflect.get(target, name),
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
      name === "takeDecision"
        ? (id: string) => gate.then(() => target.takeDecision(id))
        : Reflect.get(target, name),
  }) as Store;
  const feedback = createFeedbackLoop({ store: slow, maxInFlight: 2, log: () => {} });
  assert.equal(feedback.accept(completedEvent({ queryId: "a" })), "accepted");
  assert.equal(feedback.accept(completedEvent({ queryId: "b" })), "accepted");
  assert.equal(feedback.accept(completedEvent({ queryId: "c" })), "busy");
  assert.equal(feedback.stats().dropped, 1);
  release();
  await feedback.idle();
  assert.deepEqual(feedback.stats().events, { "unknown|unjoined": 2 });
  assert.equal(feedback.accept(completedEvent({ queryId: "d" })), "accepted");
  await feedback.close();
});

Deno.test("the feedback metrics expose confusion counts and live rates per model version", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  await store.putDecision(recordKey({ queryId: "q2" }), routed("q2"));
  await store.putDecision(
    recordKey({ queryId: "q3" }),
    routed("q3", { decision: "heavy", targetCluster: "large" }),
  );
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
  const { store, feedback } = setup({
    clusters: { small: ["adhoc", "trino-small:8080"], large: ["batch", "trino-large:8080"] },
  });
  await store.putDecision(
    recordKey({ queryId: "q1" }),
    routed("q1", { targetCluster: "trino-small:8080" }),
  );
  const outcome = await feedback.handleEvent(completedEvent({ queryId: "q1", error: RESOURCE }));
  assert.equal(outcome.cluster, "adhoc");
  assert.equal(outcome.markedTemplate, true);
  // The configured name, not the literal "small", is the Small cluster's.
  await store.putDecision(recordKey({ queryId: "q2" }), routed("q2", { targetCluster: "small" }));
  const literal = await feedback.handleEvent(completedEvent({ queryId: "q2", error: RESOURCE }));
  assert.equal(literal.cluster, "unknown");
  assert.equal(literal.markedTemplate, false);
});

Deno.test("without a cluster in the URL, the event's node.environment names the cluster", async () => {
  const store = new MemoryStore();
  const feedback = createFeedbackLoop({ store, log: () => {} });
  await store.putDecision(recordKey({ queryId: "q-env" }), routed("q-env"));
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

Deno.test("only the model's decisions count in the confusion matrix", async () => {
  const { store, feedback } = setup();
  for (const reason of ["write-statement", "transaction", "template-cache", "fallback"]) {
    const id = `q-${reason}`;
    await store.putDecision(
      recordKey({ queryId: id }),
      routed(id, { decision: "heavy", targetCluster: "large", reason }),
    );
    const outcome = await feedback.handleEvent(completedEvent({ queryId: id, cpuSeconds: 900 }));
    assert.equal(outcome.joined, true, reason);
  }
  assert.deepEqual(feedback.confusion(), {});
  await store.putDecision(recordKey({ queryId: "q-model" }), routed("q-model"));
  await feedback.handleEvent(completedEvent({ queryId: "q-model", cpuSeconds: 900 }));
  assert.equal(feedback.confusion().v1.falseNegative, 1);
});

Deno.test("a decision joins one event only: a replayed or retried query is counted once", async () => {
  const { store, feedback } = setup();
  await store.putDecision(recordKey({ queryId: "q1" }), routed("q1"));
  const failed = completedEvent({ queryId: "q1", error: RESOURCE });
  // The retry's completion on Large does not take the Small decision...
  const onLarge = await feedback.handleEvent(completedEvent({ queryId: "q1" }), "large");
  assert.equal(onLarge.joined, false);
  // ...Small's failure does, once.
  assert.equal((await feedback.handleEvent(failed, "small")).joined, true);
  assert.equal((await feedback.handleEvent(failed, "small")).joined, false);
  assert.deepEqual(feedback.confusion(), {
    v1: { truePositive: 0, falseNegative: 1, trueNegative: 0, falsePositive: 0 },
  });
});

Deno.test("an event naming an unconfigured cluster is refused and counted in one series", async () => {
  const { feedback } = setup();
  for (let i = 0; i < 500; i++) {
    assert.equal(feedback.accept(completedEvent({ queryId: `q${i}` }), `c${i}`), "unknown-cluster");
  }
  // Unknown node.environment values never become label values either.
  for (let i = 0; i < 50; i++) {
    feedback.accept(completedEvent({ queryId: `e${i}`, environment: `env${i}` }));
  }
  await feedback.idle();
  const registry = new Registry();
  registerFeedbackMetrics(registry, feedback);
  const text = await registry.metrics();
  assert.ok(
    text.includes('trino_router_feedback_rejected_events_total{reason="unknown_cluster"} 500'),
  );
  assert.ok(
    text.includes('trino_router_feedback_events_total{cluster="unknown",result="unjoined"} 50'),
  );
  assert.ok(!/c\d+|env\d+/.test(text.replace(/#.*\n/g, "")), "no event-chosen label value");
  assert.ok(text.length < 10_000, `metrics grew to ${text.length} bytes`);
});

Deno.test("the labeled log stops growing at its size limit", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const { store, feedback } = setup({ labeledLogPath: path, labeledLogMaxBytes: 4_000 });
    for (let i = 0; i < 20; i++) {
      await store.putDecision(recordKey({ queryId: `q${i}` }), routed(`q${i}`));
      await feedback.handleEvent(completedEvent({ queryId: `q${i}` }));
    }
    await feedback.close();
    const size = (await Deno.stat(path)).size;
    assert.ok(size <= 4_000 && size > 0, `labeled log is ${size} bytes`);
    const { written, overLimit } = feedback.stats().labeledLog;
    assert.ok(written >= 1 && overLimit >= 1 && written + overLimit === 20);
  } finally {
    await Deno.remove(path);
  }
});
