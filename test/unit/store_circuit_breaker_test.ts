import assert from "node:assert/strict";
import { CircuitBreaker, type CircuitState } from "../../src/store/circuit_breaker.ts";

function breaker(threshold = 3, openMs = 100) {
  const clock = { now: 0 };
  const changes: CircuitState[] = [];
  const cb = new CircuitBreaker({
    failureThreshold: threshold,
    openMs,
    now: () => clock.now,
    onStateChange: (state) => changes.push(state),
  });
  return { cb, clock, changes };
}

Deno.test("the circuit stays closed below the failure threshold", () => {
  const { cb } = breaker(3);
  cb.failure();
  cb.failure();
  assert.equal(cb.state, "closed");
  assert.equal(cb.tryAcquire(), true);
});

Deno.test("a success resets the count of consecutive failures", () => {
  const { cb } = breaker(3);
  cb.failure();
  cb.failure();
  cb.success();
  cb.failure();
  cb.failure();
  assert.equal(cb.state, "closed");
});

Deno.test("the circuit opens at the threshold and refuses calls while open", () => {
  const { cb, clock, changes } = breaker(3, 100);
  for (let i = 0; i < 3; i++) cb.failure();
  assert.equal(cb.state, "open");
  clock.now = 99;
  assert.equal(cb.tryAcquire(), false);
  assert.deepEqual(changes, ["open"]);
});

Deno.test("after the open period one probe goes through and the others wait for it", () => {
  const { cb, clock } = breaker(1, 100);
  cb.failure();
  clock.now = 100;
  assert.equal(cb.state, "half-open");
  assert.equal(cb.tryAcquire(), true);
  assert.equal(cb.tryAcquire(), false);
});

Deno.test("a successful probe closes the circuit", () => {
  const { cb, clock, changes } = breaker(1, 100);
  cb.failure();
  clock.now = 100;
  cb.tryAcquire();
  cb.success();
  assert.equal(cb.state, "closed");
  assert.deepEqual(changes, ["open", "half-open", "closed"]);
});

Deno.test("a failed probe opens the circuit for another full period", () => {
  const { cb, clock } = breaker(1, 100);
  cb.failure();
  clock.now = 150;
  assert.equal(cb.tryAcquire(), true);
  cb.failure();
  assert.equal(cb.state, "open");
  clock.now = 249;
  assert.equal(cb.tryAcquire(), false);
  clock.now = 250;
  assert.equal(cb.tryAcquire(), true);
});
