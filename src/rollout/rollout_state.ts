/**
 * The deployment's rollout state (mode, canary share, challenger, trip) and its JSON form, as
 * kept in the store so that every replica follows the same one.
 *
 * @module
 */

import { GUARD_NAMES, type GuardName } from "./guards.ts";
import { isRolloutMode, type RolloutMode } from "./mode.ts";

/** Why the deployment left `canary`/`full` by itself; cleared by an operator's re-arm. */
export interface RolloutTrip {
  readonly guard: GuardName;
  readonly value: number;
  readonly threshold: number;
  readonly samples: number;
  /** ISO-8601 instant of the trip. */
  readonly at: string;
  /** The mode the guard dropped the deployment from. */
  readonly from: RolloutMode;
}

/** The rollout state every replica follows. */
export interface RolloutState {
  readonly mode: RolloutMode;
  /** Share of users (0–100) whose light queries run on Small in `canary`. */
  readonly canaryPercent: number;
  /** A loaded model version scored beside the champion and recorded, never applied. */
  readonly challenger?: string;
  readonly tripped?: RolloutTrip;
  /** Grows with every change; replicas adopt a stored state with a higher revision. */
  readonly revision: number;
  readonly changedAt: string;
  readonly changedBy: "config" | "admin" | "guard";
}

/** The store setting that holds the state. */
export const ROLLOUT_SETTING = "rollout";

/** A state value that cannot be used, with the reason. */
export class RolloutStateError extends Error {
  override name = "RolloutStateError";
}

/**
 * Checks a canary percentage: a finite number in [0, 100].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCanaryPercent } from "./rollout_state.ts";
 * assert.equal(checkCanaryPercent(2), 2);
 * assert.throws(() => checkCanaryPercent(101), /canaryPercent/);
 * ```
 */
export function checkCanaryPercent(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 100) {
    throw new RolloutStateError(`canaryPercent must be a number from 0 to 100, got ${value}`);
  }
  return value;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Reads a stored state; `undefined` for anything that is not one (another version's format, a
 * hand edit gone wrong), so that a replica keeps its current state rather than guessing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRolloutState } from "./rollout_state.ts";
 * const state = parseRolloutState(JSON.stringify({
 *   mode: "canary", canaryPercent: 10, revision: 3, changedAt: "2026-01-01T00:00:00Z", changedBy: "admin",
 * }));
 * assert.equal(state?.canaryPercent, 10);
 * assert.equal(parseRolloutState("{\"mode\":\"yolo\"}"), undefined);
 * ```
 */
export function parseRolloutState(text: string | undefined): RolloutState | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value) || !isRolloutMode(value.mode)) return undefined;
  if (typeof value.revision !== "number" || typeof value.changedAt !== "string") return undefined;
  if (typeof value.canaryPercent !== "number") return undefined;
  if (value.challenger !== undefined && typeof value.challenger !== "string") return undefined;
  const tripped = value.tripped;
  if (
    tripped !== undefined &&
    !(isObject(tripped) && (GUARD_NAMES as readonly unknown[]).includes(tripped.guard) &&
      isRolloutMode(tripped.from) && typeof tripped.at === "string")
  ) return undefined;
  const changedBy = value.changedBy;
  if (changedBy !== "config" && changedBy !== "admin" && changedBy !== "guard") return undefined;
  return value as unknown as RolloutState;
}
