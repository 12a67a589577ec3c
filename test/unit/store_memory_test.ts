import assert from "node:assert/strict";
import { historyIncrements, historyKeys } from "../../src/features/history.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { createStore, StoreConfigError } from "../../src/store/mod.ts";
import { decision, runStoreContract } from "./_store_contract.ts";

Deno.test("the memory store fulfils the store contract", async (t) => {
  await runStoreContract(t, (ttls) => {
    let now = 1_000_000;
    const store = new MemoryStore({ ttls, now: () => now });
    return Promise.resolve({
      store,
      elapse: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    });
  });
});

Deno.test("the memory store evicts the least recently used entry past its cap", async () => {
  const store = new MemoryStore({ maxEntries: 2 });
  await store.putDecision("a", decision("a"));
  await store.putDecision("b", decision("b"));
  await store.getDecision("a"); // "a" is now more recent than "b"
  await store.putDecision("c", decision("c"));
  assert.equal((await store.getDecision("a"))?.queryId, "a");
  assert.equal(await store.getDecision("b"), undefined);
  assert.equal((await store.getDecision("c"))?.queryId, "c");
});

Deno.test("the memory store caps each kind of entry separately", async () => {
  const store = new MemoryStore({ maxEntries: 1 });
  await store.putDecision("a", decision("a"));
  await store.markTemplateHeavy("aaaaaaaaaaaaaaaa");
  await store.putSubmission("a", { sqlText: "SELECT 1", headers: {} });
  assert.equal((await store.getDecision("a"))?.queryId, "a");
  assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), true);
  assert.equal((await store.takeSubmission("a"))?.sqlText, "SELECT 1");
});

Deno.test("the memory store stays bounded under 200 000 distinct decisions", async () => {
  const store = new MemoryStore({ maxEntries: 1_000 });
  for (let i = 0; i < 200_000; i++) await store.putDecision(`q${i}`, decision(`q${i}`));
  assert.equal(await store.getDecision("q0"), undefined);
  assert.equal((await store.getDecision("q199999"))?.queryId, "q199999");
});

Deno.test("the default TTLs keep decisions 1 h and heavy templates 24 h", async () => {
  let now = 0;
  const store = new MemoryStore({ now: () => now });
  await store.putDecision("q", decision("q"));
  await store.markTemplateHeavy("aaaaaaaaaaaaaaaa");
  now = 3_600_000 - 1;
  assert.notEqual(await store.getDecision("q"), undefined);
  now = 3_600_000;
  assert.equal(await store.getDecision("q"), undefined);
  now = 24 * 3_600_000 - 1;
  assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), true);
  now = 24 * 3_600_000;
  assert.equal(await store.isTemplateHeavy("aaaaaaaaaaaaaaaa"), false);
});

Deno.test("createStore without a Redis URL returns the memory store", async () => {
  for (const redisUrl of [undefined, "", "  "]) {
    const store = createStore({ redisUrl });
    assert.equal(store.health().backend, "memory");
    await store.close();
  }
});

Deno.test("createStore rejects a Redis URL it cannot use, without echoing it", () => {
  assert.throws(() => createStore({ redisUrl: "not a url" }), StoreConfigError);
  assert.throws(
    () => createStore({ redisUrl: "http://user:secret@host:6379" }),
    (error: Error) => error instanceof StoreConfigError && !error.message.includes("secret"),
  );
});

Deno.test("stored submissions are bounded by bytes, not only by count", async () => {
  const store = new MemoryStore({ maxSubmissionBytes: 10 * 1024 * 1024 });
  const sql = `SELECT '${"x".repeat(1024 * 1024)}'`;
  for (let i = 0; i < 50; i++) await store.putSubmission(`q${i}`, { sqlText: sql, headers: {} });
  // 50 MiB of SQL (100 MiB as UTF-16) offered, at most 10 MiB kept: the newest ones.
  let kept = 0;
  for (let i = 0; i < 50; i++) if (await store.takeSubmission(`q${i}`)) kept++;
  assert.ok(kept >= 1 && kept <= 5, `kept ${kept}`);
  assert.ok(await store.takeSubmission("q49") === undefined, "taken above");
  await store.putSubmission("last", { sqlText: sql, headers: {} });
  assert.equal((await store.takeSubmission("last"))?.sqlText, sql);
});

Deno.test("decision records are bounded by bytes: caller-chosen query ids cannot grow memory", async () => {
  const store = new MemoryStore({ maxDecisionBytes: 1024 * 1024 });
  const id = (i: number) => `q${i}-${"x".repeat(64 * 1024)}`;
  for (let i = 0; i < 100; i++) await store.putDecision(id(i), decision(id(i)));
  // 100 records of ~256 KiB each offered, at most 1 MiB kept: the newest ones.
  let kept = 0;
  for (let i = 0; i < 100; i++) if (await store.getDecision(id(i))) kept++;
  assert.ok(kept >= 1 && kept <= 4, `kept ${kept}`);
  assert.ok(await store.getDecision(id(99)));
  const small = new MemoryStore({ maxDecisionBytes: 1024 * 1024 });
  for (let i = 0; i < 1_000; i++) await small.putDecision(`q${i}`, decision(`q${i}`));
  assert.ok(await small.getDecision("q0"), "typical records: a thousand fit in a megabyte");
});

Deno.test("history records are bounded by bytes: new templates cannot grow memory", async () => {
  const store = new MemoryStore({ maxHistoryBytes: 64 * 1024 });
  const outcome = { heavy: false, cpuSeconds: 0.1, peakMemoryBytes: 1e6 };
  const keys = (i: number) => historyKeys(`fp${i}`, [], undefined);
  for (let i = 0; i < 10_000; i++) await store.addHistory(historyIncrements(keys(i), outcome));
  // ~400 bytes per record: at most ~160 of 10,000 kept, the newest ones.
  const read = await store.readHistory(
    Array.from({ length: 10_000 }, (_, i) => keys(i).template),
  );
  const kept = read.filter((r) => r !== undefined).length;
  assert.ok(kept >= 100 && kept <= 200, `kept ${kept}`);
  assert.deepEqual(read.at(-1), { n: 1, h: 0, c8: 1, m8: 1 });
  assert.equal(read[0], undefined);
});
