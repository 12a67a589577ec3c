/**
 * The rollout control: holds the deployment's {@linkcode RolloutState}, keeps it in step with
 * the store (so that a change reaches every replica within one poll), evaluates the guards and
 * drops `canary`/`full` to `shadow` by itself when one trips.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { Store } from "../store/store.ts";
import { DEFAULT_GUARD_CONFIG, type GuardConfig, Guards, rearmBlocker } from "./guards.ts";
import { APPLYING_MODES, type RolloutMode } from "./mode.ts";
import {
  checkCanaryPercent,
  parseRolloutState,
  ROLLOUT_SETTING,
  type RolloutState,
} from "./rollout_state.ts";

/** Options of {@linkcode RolloutControl}. */
export interface RolloutControlOptions {
  readonly store: Store;
  /** Mode, canary share and challenger at start, unless the store already holds a state. */
  readonly initial: { mode: RolloutMode; canaryPercent: number; challenger?: string };
  readonly guards?: GuardConfig;
  /** How often the store is read and the guards evaluated, in milliseconds. */
  readonly pollMs?: number;
  readonly logger: Logger;
  /** Clock in milliseconds, injectable for tests. */
  readonly now?: () => number;
}

/** Default {@linkcode RolloutControlOptions.pollMs}. */
export const DEFAULT_POLL_MS = 1_000;

/** A change an operator asks for. */
export interface RolloutChange {
  readonly mode?: RolloutMode;
  readonly canaryPercent?: number;
  /** Needed to enter `canary`/`full` again after a guard tripped. */
  readonly rearm?: boolean;
}

/** A change refused because of the deployment's state (HTTP 409), with the reason. */
export class RolloutConflictError extends Error {
  override name = "RolloutConflictError";
}

/** Trips counted per guard since start, for metrics. */
export type TripCounts = Readonly<Record<string, number>>;

/**
 * The rollout control. Call {@linkcode RolloutControl.start} once; {@linkcode RolloutControl.tick}
 * runs every `pollMs` (tests call it directly).
 *
 * Why the store's state wins over the environment at start: a replica started with a stale
 * `ROLLOUT_MODE` must not move a fleet that an operator (or a guard) has set otherwise. The
 * environment only seeds a store that holds no state yet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createLogger } from "../log.ts";
 * import { RolloutControl } from "./rollout_control.ts";
 * const control = new RolloutControl({
 *   store: new MemoryStore(), logger: createLogger(() => {}),
 *   initial: { mode: "shadow", canaryPercent: 2 },
 * });
 * await control.start();
 * await control.change({ mode: "canary", canaryPercent: 10 }, "admin");
 * assert.equal(control.state.mode, "canary");
 * await control.close();
 * ```
 */
export class RolloutControl {
  readonly guards: Guards;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #pollMs: number;
  readonly #trips: Record<string, number> = {};
  #state: RolloutState;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking: Promise<void> | undefined;

  constructor(options: RolloutControlOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.guards = new Guards(options.guards ?? DEFAULT_GUARD_CONFIG, this.#now);
    const { mode, canaryPercent, challenger } = options.initial;
    this.#state = {
      mode,
      canaryPercent: checkCanaryPercent(canaryPercent),
      ...(challenger ? { challenger } : {}),
      revision: 0,
      changedAt: new Date(this.#now()).toISOString(),
      changedBy: "config",
    };
  }

  /** The current state; a plain read, cheap enough for every request. */
  get state(): RolloutState {
    return this.#state;
  }

  /** Trips per guard since start. */
  get trips(): TripCounts {
    return { ...this.#trips };
  }

  /** Adopts the store's state, or seeds the store with the configured one; starts polling. */
  async start(): Promise<void> {
    await this.#sync();
    const timer = setInterval(() => void this.tick(), this.#pollMs);
    // The poll must not keep a process alive that has nothing else to do.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Reads the store's state and evaluates the guards; never rejects. Overlapping calls share. */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => this.#ticking = undefined);
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    try {
      await this.#sync();
      await this.#evaluateGuards();
    } catch (error) {
      this.#logger.error("rollout tick failed", {
        component: "rollout",
        error: error instanceof Error ? error.name : typeof error,
      });
    }
  }

  /**
   * Follows the store's state: a newer revision, or any stored state while this replica only
   * has its configured one (so that replicas seeded concurrently converge on the last writer).
   * The other way round, a reachable store that is empty or older than this replica (a trip or
   * a change made while Redis was away) gets this replica's state, so that it reaches the fleet
   * once Redis is back.
   */
  async #sync(): Promise<void> {
    const stored = parseRolloutState(await this.#store.getSetting(ROLLOUT_SETTING));
    const configured = this.#state.changedBy === "config";
    if (stored) {
      const differs = stored.revision !== this.#state.revision ||
        stored.changedAt !== this.#state.changedAt;
      if ((configured && differs) || isNewer(stored, this.#state)) {
        this.#adopt(stored);
        return;
      }
    }
    if (this.#store.health().state !== "ok") return;
    if (!stored || isNewer(this.#state, stored)) {
      this.#state = { ...this.#state, revision: Math.max(1, this.#state.revision) };
      await this.#store.putSetting(ROLLOUT_SETTING, JSON.stringify(this.#state));
    }
  }

  async #evaluateGuards(): Promise<void> {
    if (!APPLYING_MODES.has(this.#state.mode)) return;
    const trip = this.guards.read().find((reading) => reading.tripped);
    if (!trip) return;
    const from = this.#state.mode;
    this.#trips[trip.guard] = (this.#trips[trip.guard] ?? 0) + 1;
    await this.#write({
      ...this.#state,
      mode: "shadow",
      tripped: {
        guard: trip.guard,
        value: trip.value,
        threshold: trip.threshold,
        samples: trip.samples,
        at: new Date(this.#now()).toISOString(),
        from,
      },
    }, "guard");
    // The one line an on-call engineer needs: what tripped, on what evidence, where we are now.
    this.#logger.error("rollout guard tripped, dropped to shadow", {
      component: "rollout",
      reason: trip.guard,
      detail: `from=${from} value=${trip.value} threshold=${trip.threshold} ` +
        `samples=${trip.samples} rearm=PUT /v1/admin/rollout {"rearm":true}`,
    });
  }

  /**
   * Applies an operator's change and shares it through the store. Entering `canary`/`full`
   * after a trip needs `rearm: true` and is refused during the hold time or while a guard still
   * reads above its re-arm level ({@linkcode RolloutConflictError}); a bad value throws
   * {@linkcode RolloutStateError}.
   */
  async change(change: RolloutChange, by: "admin" | "config"): Promise<RolloutState> {
    const mode = change.mode ?? this.#state.mode;
    const canaryPercent = change.canaryPercent === undefined
      ? this.#state.canaryPercent
      : checkCanaryPercent(change.canaryPercent);
    let tripped = this.#state.tripped;
    if (tripped && APPLYING_MODES.has(mode)) {
      if (!change.rearm) {
        throw new RolloutConflictError(
          `guard ${tripped.guard} tripped at ${tripped.at}; send "rearm": true to enter ${mode}`,
        );
      }
      const blocker = rearmBlocker(
        this.guards.read(),
        this.guards.config,
        Date.parse(tripped.at),
        this.#now(),
      );
      if (blocker) throw new RolloutConflictError(`cannot re-arm yet: ${blocker}`);
      tripped = undefined;
    } else if (tripped && change.rearm) {
      tripped = undefined;
    }
    const { tripped: _, ...rest } = this.#state;
    const next: RolloutState = { ...rest, mode, canaryPercent, ...(tripped ? { tripped } : {}) };
    if (this.#state.tripped && !tripped) this.guards.clear();
    await this.#write(next, by);
    this.#logger.info("rollout changed", {
      component: "rollout",
      detail: `mode=${next.mode} canaryPercent=${next.canaryPercent} by=${by}`,
    });
    return this.#state;
  }

  /** Names (or clears, with `undefined`) the challenger version. */
  async setChallenger(version: string | undefined): Promise<RolloutState> {
    const { challenger: _, ...rest } = this.#state;
    await this.#write({ ...rest, ...(version ? { challenger: version } : {}) }, "admin");
    this.#logger.info("rollout challenger changed", {
      component: "rollout",
      modelVersion: version ?? "none",
    });
    return this.#state;
  }

  /** Stops polling. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    return this.#ticking ?? Promise.resolve();
  }

  async #write(next: RolloutState, by: RolloutState["changedBy"]): Promise<void> {
    // Read-modify-write: the highest revision known anywhere plus one, so replicas converge
    // on the last writer.
    const stored = parseRolloutState(await this.#store.getSetting(ROLLOUT_SETTING));
    const revision = Math.max(this.#state.revision, stored?.revision ?? 0) + 1;
    this.#state = {
      ...next,
      revision,
      changedAt: new Date(this.#now()).toISOString(),
      changedBy: by,
    };
    await this.#store.putSetting(ROLLOUT_SETTING, JSON.stringify(this.#state));
  }

  #adopt(next: RolloutState): void {
    // Another replica re-armed: this replica's window of the bad period must not trip again.
    if (this.#state.tripped && !next.tripped) this.guards.clear();
    if (next.mode !== this.#state.mode || next.canaryPercent !== this.#state.canaryPercent) {
      this.#logger.info("rollout state adopted", {
        component: "rollout",
        detail: `mode=${next.mode} canaryPercent=${next.canaryPercent} revision=${next.revision} ` +
          `by=${next.changedBy}`,
      });
    }
    this.#state = next;
  }
}

function isNewer(stored: RolloutState, current: RolloutState): boolean {
  return stored.revision > current.revision ||
    (stored.revision === current.revision && stored.changedAt > current.changedAt);
}
