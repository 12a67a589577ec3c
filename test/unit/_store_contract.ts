/**
 * The behaviour every {@linkcode Store} must have, as one list of cases run against the memory
 * store (unit tests) and a real Redis (integration tests).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DecisionRecord, Store, StoreTtls } from "../../src/store/store.ts";
import {
  historyIncrements,
  historyKeys,
  HistoryTable,
  readHistorySnapshot,
} from "../../src/features/history.ts";

/** What a case gets: a fresh, empty store and a way to let time pass. */
export interface StoreFixture {
  readonly store: Store;
  /** Lets `ms` milliseconds pass for TTLs (a fake clock, or real sleep with tiny TTLs). */
  elapse(ms: number): Promise<void>;
}

/** Makes an isolated fixture whose store uses `ttls`. */
export type MakeFixture = (ttls: StoreTtls) => Promise<StoreFixture>;

/** TTLs small enough for a real server: expiry tests sleep past them. */
export const CONTRACT_TTLS: StoreTtls = {
  decisionMs: 150,
  templateMs: 150,
  submissionMs: 150,
  historyMs: 150,
};

/** A decision record for tests. */
export function decision(queryId: string, overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    queryId,
    decision: "light",
    reason: "model",
    modelVersion: "test-1",
    modelScore: 0.125,
    statementKind: "read",
    templateFingerprint: "0123456789abcdef",
    targetCluster: "small",
    decidedAt: "2025-08-11T12:34:56.000Z",
    ...overrides,
  };
}

const CASES: ReadonlyArray<readonly [string, (fixture: StoreFixture) => Promise<void>]> = [
  ["an unknown query has no decision", async ({ store }) => {
    assert.equal(await store.getDecision("never-seen"), undefined);
  }],
  ["a stored decision reads back equal", async ({ store }) => {
    const record = decision("q1", { decision: "heavy", modelScore: 0.875 });
    await store.putDecision("q1", record);
    assert.deepEqual(await store.getDecision("q1"), record);
  }],
  ["a decision stored twice keeps the last record", async ({ store }) => {
    await store.putDecision("q2", decision("q2"));
    await store.putDecision("q2", decision("q2", { reason: "template-cache" }));
    assert.equal((await store.getDecision("q2"))?.reason, "template-cache");
  }],
  ["a decision taken once is gone for the next taker", async ({ store }) => {
    await store.putDecision("q4", decision("q4"));
    assert.equal((await store.takeDecision("q4"))?.queryId, "q4");
    assert.equal(await store.takeDecision("q4"), undefined);
    assert.equal(await store.getDecision("q4"), undefined);
  }],
  ["a decision expires after its TTL", async ({ store, elapse }) => {
    await store.putDecision("q3", decision("q3"));
    await elapse(CONTRACT_TTLS.decisionMs + 100);
    assert.equal(await store.getDecision("q3"), undefined);
  }],
  ["an unknown template is not heavy", async ({ store }) => {
    assert.equal(await store.isTemplateHeavy("ffffffffffffffff"), false);
  }],
  ["a template marked heavy reads as heavy", async ({ store }) => {
    await store.markTemplateHeavy("aaaaaaaaaaaaaaaa");
    assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), true);
    assert.equal(await store.isTemplateHeavy("bbbbbbbbbbbbbbbb"), false);
  }],
  ["a heavy template is forgotten after its TTL", async ({ store, elapse }) => {
    await store.markTemplateHeavy("cccccccccccccccc");
    await elapse(CONTRACT_TTLS.templateMs + 100);
    assert.equal(await store.isTemplateHeavy("cccccccccccccccc"), false);
  }],
  ["a submission can be taken exactly once", async ({ store }) => {
    const submission = { sqlText: "SELECT 1", headers: { "x-trino-user": "alice" } };
    await store.putSubmission("q4", submission);
    assert.deepEqual(await store.takeSubmission("q4"), submission);
    assert.equal(await store.takeSubmission("q4"), undefined);
  }],
  ["a submission expires after its TTL", async ({ store, elapse }) => {
    await store.putSubmission("q5", { sqlText: "SELECT 2", headers: {} });
    await elapse(CONTRACT_TTLS.submissionMs + 100);
    assert.equal(await store.takeSubmission("q5"), undefined);
  }],
  ["counters start empty and add up", async ({ store }) => {
    assert.deepEqual(await store.readCounters(), {});
    await store.incrementCounter("events");
    await store.incrementCounter("events", 2);
    await store.incrementCounter("marks", 5);
    assert.deepEqual(await store.readCounters(), { events: 3, marks: 5 });
  }],
  ["history records add up across calls, read back in key order, and expire", async (f) => {
    const { store, elapse } = f;
    assert.deepEqual(await store.readHistory(["t:none", "u:none"]), [undefined, undefined]);
    const keys = historyKeys("fp", ["tpch.sf1.orders"], "ann");
    const heavy = historyIncrements(keys, { heavy: true, cpuSeconds: 5, peakMemoryBytes: 2e8 });
    const light = historyIncrements(keys, { heavy: false, cpuSeconds: 0.1, peakMemoryBytes: 1e6 });
    await Promise.all([store.addHistory(heavy), store.addHistory(light)]);
    await store.addHistory(light);
    const table = new HistoryTable();
    for (const inc of [heavy, light, light]) table.add(inc);
    const [user, template] = await store.readHistory([keys.user!, keys.template]);
    assert.deepEqual(template, table.record(keys.template));
    assert.deepEqual(user, { n: 3, h: 1 });
    // What the router reads through the store is what the training replay computes.
    assert.deepEqual(await readHistorySnapshot(store, keys), table.snapshot(keys));
    await elapse(CONTRACT_TTLS.historyMs + 100);
    assert.deepEqual(await store.readHistory([keys.template]), [undefined]);
  }],
  ["settings start unset, are overwritten and never expire", async ({ store, elapse }) => {
    assert.equal(await store.getSetting("rollout"), undefined);
    await store.putSetting("rollout", "one");
    await store.putSetting("rollout", "two");
    await elapse(CONTRACT_TTLS.decisionMs + 100);
    assert.equal(await store.getSetting("rollout"), "two");
  }],
  ["a healthy store reports ok with a closed circuit", ({ store }) => {
    const health = store.health();
    assert.equal(health.state, "ok");
    assert.equal(health.circuit, "closed");
    return Promise.resolve();
  }],
  ["closing a store twice is harmless and later calls answer unknown", async ({ store }) => {
    await store.close();
    await store.close();
    assert.equal(await store.getDecision("q1"), undefined);
    assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
  }],
];

/**
 * Runs every contract case as a step of `t`, each on a fresh fixture that is closed afterwards.
 */
export async function runStoreContract(t: Deno.TestContext, make: MakeFixture): Promise<void> {
  for (const [name, run] of CASES) {
    await t.step(name, async () => {
      const fixture = await make(CONTRACT_TTLS);
      try {
        await run(fixture);
      } finally {
        await fixture.store.close();
      }
    });
  }
}
