/** The rollout control: modes shared through the store, automatic rollback, re-arm rules, canary split. */
import assert from "node:assert/strict";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from "../../src/rollout/guards.ts";
import { RolloutConflictError, RolloutControl } from "../../src/rollout/rollout_control.ts";
import { appliedClass, canaryBucket, inCanary } from "../../src/rollout/mode.ts";
import { capturingLogger } from "./_fixtures.ts";
import type { Store } from "../../src/store/store.ts";
import type { RolloutMode } from "../../src/rollout/mode.ts";

const GUARDS: GuardConfig = {
  ...DEFAULT_GUARD_CONFIG,
  windowMs: 60_000,
  fnr: { threshold: 0.01, minSamples: 10 },
  holdMs: 30_000,
};

function control(store: Store, mode: RolloutMode, clock: { now: number }) {
  const logger = capturingLogger();
  const rollout = new RolloutControl({
    store,
    logger,
    initial: { mode, canaryPercent: 10 },
    guards: GUARDS,
    pollMs: 60_000,
    now: () => clock.now,
  });
  return { rollout, logger };
}

const heavyOnSmall = (rollout: RolloutControl, n: number) => {
  for (let i = 0; i < n; i++) rollout.guards.labelled("light", "heavy");
};

Deno.test("a change reaches another replica sharing the store on its next tick", async () => {
  const store = new MemoryStore();
  const clock = { now: Date.parse("2026-11-24T22:00:00Z") };
  const a = control(store, "shadow", clock).rollout;
  const b = control(store, "full", clock).rollout;
  await a.start();
  // b starts later with another configured mode: the fleet's stored state wins.
  await b.start();
  assert.equal(b.state.mode, "shadow");
  clock.now += 1_000;
  await a.change({ mode: "canary", canaryPercent: 50 }, "admin");
  assert.equal(b.state.mode, "shadow");
  await b.tick();
  assert.equal(b.state.mode, "canary");
  assert.equal(b.state.canaryPercent, 50);
  assert.equal(b.state.revision, a.state.revision);
  await a.close();
  await b.close();
});

Deno.test("an FNR burst in canary drops to shadow once, logs one line, and stays there", async () => {
  const store = new MemoryStore();
  const clock = { now: Date.parse("2026-11-24T22:00:00Z") };
  const { rollout, logger } = control(store, "canary", clock);
  const other = control(store, "canary", clock).rollout;
  await rollout.start();
  await other.start();
  heavyOnSmall(rollout, 9);
  await rollout.tick();
  assert.equal(rollout.state.mode, "canary", "under the minimum sample size nothing trips");
  heavyOnSmall(rollout, 1);
  await rollout.tick();
  assert.equal(rollout.state.mode, "shadow");
  assert.equal(rollout.state.tripped?.guard, "fnr");
  assert.equal(rollout.state.tripped?.from, "canary");
  assert.deepEqual(rollout.trips, { fnr: 1 });
  await rollout.tick();
  heavyOnSmall(rollout, 50);
  await rollout.tick();
  const tripLines = logger.lines.filter((line) => line.includes("guard tripped"));
  assert.equal(tripLines.length, 1);
  assert.match(tripLines[0], /"reason":"fnr"/);
  // The other replica follows.
  await other.tick();
  assert.equal(other.state.mode, "shadow");
  assert.equal(other.state.tripped?.guard, "fnr");
  await rollout.close();
  await other.close();
});

Deno.test("a trip made while the store was unreachable reaches the fleet once it is back", async () => {
  const shared = new MemoryStore();
  let down = false;
  // A store that degrades like the Redis store: reads answer unknown, writes are dropped.
  const flaky: Store = Object.assign(Object.create(shared), {
    getSetting: (name: string) => down ? Promise.resolve(undefined) : shared.getSetting(name),
    putSetting: (name: string, value: string) =>
      down ? Promise.resolve() : shared.putSetting(name, value),
    health: () => ({ ...shared.health(), state: down ? "degraded" : "ok" }),
  });
  const clock = { now: Date.parse("2026-11-24T22:00:00Z") };
  const { rollout } = control(flaky, "canary", clock);
  const other = control(shared, "canary", clock).rollout;
  await rollout.start();
  await other.start();
  down = true;
  heavyOnSmall(rollout, 10);
  await rollout.tick();
  assert.equal(rollout.state.mode, "shadow");
  await other.tick();
  assert.equal(other.state.mode, "canary", "the store never heard of the trip");
  down = false;
  await rollout.tick();
  await other.tick();
  assert.equal(other.state.mode, "shadow");
  assert.equal(other.state.tripped?.guard, "fnr");
  await rollout.close();
  await other.close();
});

Deno.test("guards never trip outside canary and full", async () => {
  for (const mode of ["off", "shadow", "shadow-route"] as const) {
    const clock = { now: 0 };
    const { rollout } = control(new MemoryStore(), mode, clock);
    await rollout.start();
    heavyOnSmall(rollout, 100);
    await rollout.tick();
    assert.equal(rollout.state.mode, mode);
    assert.equal(rollout.state.tripped, undefined);
    await rollout.close();
  }
});

Deno.test("after a trip: re-arm required, refused in the hold time and above the re-arm level", async () => {
  const clock = { now: Date.parse("2026-11-24T22:00:00Z") };
  const { rollout } = control(new MemoryStore(), "full", clock);
  await rollout.start();
  heavyOnSmall(rollout, 10);
  await rollout.tick();
  assert.equal(rollout.state.mode, "shadow");
  // Safer modes stay open without re-arming.
  await rollout.change({ mode: "off" }, "admin");
  assert.equal(rollout.state.mode, "off");
  assert.ok(rollout.state.tripped, "the trip stays until re-armed");
  await assert.rejects(rollout.change({ mode: "full" }, "admin"), RolloutConflictError);
  await assert.rejects(
    rollout.change({ mode: "full", rearm: true }, "admin"),
    (error: Error) => error instanceof RolloutConflictError && /hold time/.test(error.message),
  );
  clock.now += 30_000;
  // Still 100 % FNR in the window: hysteresis refuses.
  await assert.rejects(
    rollout.change({ mode: "full", rearm: true }, "admin"),
    (error: Error) => /guard fnr/.test(error.message),
  );
  clock.now += 60_000; // the window has moved on
  await rollout.change({ mode: "canary", canaryPercent: 2, rearm: true }, "admin");
  assert.equal(rollout.state.mode, "canary");
  assert.equal(rollout.state.tripped, undefined);
  assert.ok(!rollout.guards.read().some((r) => r.samples > 0), "re-arming clears the window");
  await rollout.close();
});

Deno.test("a bad canary percentage is refused with a message naming it", async () => {
  const { rollout } = control(new MemoryStore(), "shadow", { now: 0 });
  await rollout.start();
  await assert.rejects(rollout.change({ canaryPercent: 150 }, "admin"), /canaryPercent/);
  assert.equal(rollout.state.canaryPercent, 10);
  await rollout.close();
});

Deno.test("canary: one user one behaviour, about the configured share, growing monotonically", () => {
  const users = Array.from({ length: 4_000 }, (_, i) => `user-${i}`);
  const at = (percent: number) => new Set(users.filter((u) => inCanary(u, percent)));
  const two = at(2), ten = at(10), fifty = at(50);
  assert.ok(Math.abs(fifty.size / users.length - 0.5) < 0.03, `50 %: ${fifty.size}`);
  assert.ok(Math.abs(ten.size / users.length - 0.1) < 0.02, `10 %: ${ten.size}`);
  for (const user of two) assert.ok(ten.has(user) && fifty.has(user));
  assert.equal(at(0).size, 0);
  assert.equal(at(100).size, users.length);
  assert.equal(canaryBucket("alice"), canaryBucket("alice"));
  for (const user of users.slice(0, 50)) {
    const expected = fifty.has(user) ? "light" : "heavy";
    assert.equal(appliedClass("light", "canary", 50, () => canaryBucket(user)), expected);
    assert.equal(appliedClass("heavy", "canary", 50, () => canaryBucket(user)), "heavy");
  }
  for (const mode of ["off", "shadow", "shadow-route"] as const) {
    assert.equal(appliedClass("light", mode, 100, () => canaryBucket("alice")), "heavy");
  }
});
