/**
 * Prometheus metrics of the rollout: the mode every decision was made under, what was applied,
 * the guards and their trips, shadow-route copies and challenger agreement.
 *
 * @module
 */

import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { ROLLOUT_MODES } from "./mode.ts";
import type { RolloutControl } from "./rollout_control.ts";
import type { ShadowOutcome } from "./shadow_route.ts";

/** What the rollout counts on the request path (each call is one counter increment). */
export interface RolloutMetrics {
  /** One decision: the mode, the model's class and the applied class. */
  decision(mode: string, decision: string, applied: string): void;
  /** One shadow-route copy (or a copy refused by a limit). */
  shadowCopy(outcome: ShadowOutcome, seconds: number): void;
  /** One challenger decision and whether it agreed with the champion's. */
  challenger(modelVersion: string, agrees: boolean): void;
}

/**
 * Registers the rollout metrics on `registry`:
 * - `trino_router_rollout_decisions_total{mode,decision,applied}`;
 * - `trino_router_rollout_mode{mode}` (1 for the current mode), `trino_router_rollout_canary_percent`;
 * - `trino_router_rollout_tripped` (1 while a trip awaits re-arming),
 *   `trino_router_rollout_trips_total{guard}` (trips this replica made);
 * - `trino_router_rollout_guard_value{guard}`, `trino_router_rollout_guard_samples{guard}`,
 *   `trino_router_rollout_guard_threshold{guard}` over the sliding window;
 * - `trino_router_shadow_route_total{outcome}`, `trino_router_shadow_route_duration_seconds`;
 * - `trino_router_challenger_decisions_total{model_version,agreement}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Registry } from "prom-client";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createLogger } from "../log.ts";
 * import { RolloutControl } from "./rollout_control.ts";
 * import { registerRolloutMetrics } from "./rollout_metrics.ts";
 * const registry = new Registry();
 * const control = new RolloutControl({
 *   store: new MemoryStore(), logger: createLogger(() => {}),
 *   initial: { mode: "shadow", canaryPercent: 2 },
 * });
 * const metrics = registerRolloutMetrics(registry, control);
 * metrics.decision("shadow", "light", "heavy");
 * assert.match(await registry.metrics(), /trino_router_rollout_mode\{mode="shadow"\} 1/);
 * ```
 */
export function registerRolloutMetrics(
  registry: Registry,
  control: RolloutControl,
): RolloutMetrics {
  const registers = [registry];
  const decisions = new Counter({
    name: "trino_router_rollout_decisions_total",
    help: "Routing decisions by rollout mode, the model's class and the class applied.",
    labelNames: ["mode", "decision", "applied"] as const,
    registers,
  });
  new Gauge({
    name: "trino_router_rollout_mode",
    help: "1 for the rollout mode this replica follows, 0 for the others.",
    labelNames: ["mode"] as const,
    registers,
    collect() {
      for (const mode of ROLLOUT_MODES) this.set({ mode }, control.state.mode === mode ? 1 : 0);
    },
  });
  new Gauge({
    name: "trino_router_rollout_canary_percent",
    help: "Share of users whose light queries run on Small in canary mode.",
    registers,
    collect() {
      this.set(control.state.canaryPercent);
    },
  });
  new Gauge({
    name: "trino_router_rollout_tripped",
    help: "1 while an automatic rollback awaits an operator's re-arm.",
    registers,
    collect() {
      this.set(control.state.tripped ? 1 : 0);
    },
  });
  new Counter({
    name: "trino_router_rollout_trips_total",
    help: "Automatic rollbacks to shadow this replica made, by guard.",
    labelNames: ["guard"] as const,
    registers,
    collect() {
      this.reset();
      for (const [guard, count] of Object.entries(control.trips)) this.inc({ guard }, count);
    },
  });
  const guardGauge = (suffix: string, help: string, field: "value" | "samples" | "threshold") =>
    new Gauge({
      name: `trino_router_rollout_guard_${suffix}`,
      help,
      labelNames: ["guard"] as const,
      registers,
      collect() {
        this.reset();
        for (const reading of control.guards.read()) {
          const value = reading[field];
          if (!Number.isNaN(value)) this.set({ guard: reading.guard }, value);
        }
      },
    });
  guardGauge("value", "Guard reading over the sliding window (rate, or p99 seconds).", "value");
  guardGauge("samples", "Samples behind each guard reading in the sliding window.", "samples");
  guardGauge("threshold", "Level above which each guard trips.", "threshold");
  const shadow = new Counter({
    name: "trino_router_shadow_route_total",
    help: "Shadow-route copies on Small by outcome (or refused by a limit).",
    labelNames: ["outcome"] as const,
    registers,
  });
  const shadowSeconds = new Histogram({
    name: "trino_router_shadow_route_duration_seconds",
    help: "Wall time of shadow-route copies on Small.",
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  });
  const challenger = new Counter({
    name: "trino_router_challenger_decisions_total",
    help: "Challenger decisions, recorded not applied, by agreement with the champion.",
    labelNames: ["model_version", "agreement"] as const,
    registers,
  });
  // Present from the first scrape, so that alerts on it have a series to watch.
  shadow.inc({ outcome: "finished" }, 0);
  return {
    decision(mode, decision, applied) {
      decisions.inc({ mode, decision, applied });
    },
    shadowCopy(outcome, seconds) {
      shadow.inc({ outcome });
      if (seconds > 0) shadowSeconds.observe(seconds);
    },
    challenger(model_version, agrees) {
      challenger.inc({ model_version, agreement: agrees ? "agree" : "disagree" });
    },
  };
}
