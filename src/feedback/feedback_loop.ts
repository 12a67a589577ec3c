/**
 * The feedback loop: each Trino query-completed event is joined with the router's decision,
 * labelled by the shared label rules, counted in the live confusion matrix, fed to the template
 * cache when Small ran out of resources, and appended to the labeled log for the next training.
 *
 * @module
 */

import { decisionJoinKey } from "../routing/join_key.ts";
import {
  eventToQueryInput,
  isResourceFailure,
  type Label,
  labelEvent,
  type LabelThresholds,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "../labels/query_event.ts";
import { lex } from "../sql/lexer.ts";
import { sqlTemplateFingerprint } from "../sql/normalize.ts";
import { type StatementKind, statementKind } from "../sql/statement_kind.ts";
import type { DecisionRecord, Store } from "../store/store.ts";
import {
  confusionCounterName,
  ConfusionMatrix,
  type ConfusionSnapshot,
  type RouteClass,
  snapshotFromCounters,
} from "./confusion.ts";
import { LabeledLog } from "./labeled_log.ts";
import type { GuardInputs } from "../rollout/guards.ts";
import { isShadowCopy } from "../rollout/shadow_route.ts";

/**
 * Options of {@linkcode createFeedbackLoop}.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory_store.ts";
 * import type { FeedbackOptions } from "./feedback_loop.ts";
 * const options: FeedbackOptions = { store: new MemoryStore(), labeledLogPath: undefined };
 * console.assert(options.smallCluster === undefined);
 * ```
 */
export interface FeedbackOptions {
  /** Where decisions are read and heavy templates written. */
  readonly store: Store;
  /** Label thresholds; the same values the training set is labelled with. */
  readonly thresholds?: LabelThresholds;
  /** Operator-enabled labeled log (JSON Lines, contains SQL); absent = no file. */
  readonly labeledLogPath?: string;
  /** The cluster name (as in the path `/v1/events/<name>` or `DecisionRecord.targetCluster`). */
  readonly smallCluster?: string;
  /**
   * Resource errors that say nothing about the query's own weight and therefore do not mark its
   * template: a full queue or an administrator's preemption on Small would otherwise send every
   * template seen during a load spike to Large for a day.
   */
  readonly templateCacheIgnoredErrors?: readonly string[];
  /** Events handled in the background at once (see {@linkcode FeedbackLoop.accept}). */
  readonly maxInFlight?: number;
  /** The rollout guards fed with labelled model decisions and Small's completions. */
  readonly guards?: Pick<GuardInputs, "labelled" | "smallCompletion">;
  /** One structured line per handled event; never given SQL. Defaults to JSON on stdout. */
  readonly log?: (line: Record<string, unknown>) => void;
}

/** Defaults of {@linkcode FeedbackOptions}. */
export const DEFAULT_FEEDBACK_OPTIONS = {
  smallCluster: "small",
  templateCacheIgnoredErrors: ["QUERY_QUEUE_FULL", "ADMINISTRATIVELY_PREEMPTED"],
  maxInFlight: 1_000,
} as const;

/**
 * What the loop made of one event.
 *
 * @example
 * ```ts
 * import type { FeedbackOutcome } from "./feedback_loop.ts";
 * const outcome: FeedbackOutcome = {
 *   queryId: "q1", cluster: "small", joined: false, predicted: undefined, actual: "light",
 *   because: "light", markedTemplate: false, logged: false,
 * };
 * console.assert(outcome.actual === "light");
 * ```
 */
export interface FeedbackOutcome {
  readonly queryId: string;
  /** Where the query ran: the event's path, else the decision's target, else `unknown`. */
  readonly cluster: string;
  /** True when the router's decision for this query was found. */
  readonly joined: boolean;
  readonly predicted: RouteClass | undefined;
  /** The true label; `null` for a failure unrelated to resources (no label, as in training). */
  readonly actual: RouteClass | null;
  readonly because: Label["because"];
  /** True when the event put its template in the template cache. */
  readonly markedTemplate: boolean;
  /** True when the joined record reached the labeled log. */
  readonly logged: boolean;
}

/**
 * Running totals of the loop, for metrics.
 *
 * @example
 * ```ts
 * import type { FeedbackStats } from "./feedback_loop.ts";
 * const stats: FeedbackStats = {
 *   events: {}, templateMarks: 0, dropped: 0, failed: 0,
 *   labeledLog: { written: 0, failed: 0 },
 * };
 * console.assert(stats.dropped === 0);
 * ```
 */
export interface FeedbackStats {
  /** Events handled, keyed `<cluster>|<joined|unjoined|unlabeled|shadow-copy>`. */
  readonly events: Readonly<Record<string, number>>;
  readonly templateMarks: number;
  /** Events refused because too many were in flight. */
  readonly dropped: number;
  /** Events whose handling failed unexpectedly (a bug: logged, never thrown). */
  readonly failed: number;
  readonly labeledLog: { readonly written: number; readonly failed: number };
}

/**
 * The feedback loop; see {@linkcode createFeedbackLoop}.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop, type FeedbackLoop } from "./feedback_loop.ts";
 * const feedback: FeedbackLoop = createFeedbackLoop({ store: new MemoryStore(), log: () => {} });
 * console.assert(feedback.accept({ metadata: { queryId: "q1" }, statistics: {}, context: {} }));
 * await feedback.idle();
 * ```
 */
export interface FeedbackLoop {
  /** Handles one event and says what came of it. Never rejects. */
  handleEvent(event: QueryCompletedEvent, cluster?: string): Promise<FeedbackOutcome>;
  /**
   * Starts handling an event in the background, so that the HTTP answer to Trino does not wait
   * for the store or the disk. `false` when too many events are in flight (the caller can ask
   * Trino to retry).
   */
  accept(event: QueryCompletedEvent, cluster?: string): boolean;
  /** Resolves when every accepted event has been handled. */
  idle(): Promise<void>;
  /** This replica's confusion counts per model version. */
  confusion(): ConfusionSnapshot;
  /**
   * Counts of all replicas sharing the store (its shared counters); this replica's counts when
   * the store is degraded or has none.
   */
  sharedConfusion(): Promise<ConfusionSnapshot>;
  /** Running totals. */
  stats(): FeedbackStats;
  /** Lets the labeled log be reopened after rotation. */
  reopenLabeledLog(): Promise<void>;
  /** Waits for accepted events and closes the labeled log (not the store, which it does not own). */
  close(): Promise<void>;
}

const STATEMENT_KINDS: ReadonlySet<string> = new Set(["read", "write", "ddl", "utility"]);
// Names from the event path, or the router's target (which may be an address like `host:8080`);
// anything else becomes `unknown` so that metric labels stay bounded and clean.
const CLUSTER_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Creates the feedback loop. Everything configurable is resolved here; per event the loop does
 * one store read, at most one store write, and one line of file output.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop } from "./feedback_loop.ts";
 * const store = new MemoryStore();
 * const feedback = createFeedbackLoop({ store, log: () => {} });
 * await store.putDecision("q1", {
 *   queryId: "q1", decision: "light", reason: "model", modelVersion: "v1", modelScore: 0.1,
 *   statementKind: "read", templateFingerprint: "0123456789abcdef", targetCluster: "small",
 *   decidedAt: new Date().toISOString(),
 * });
 * const outcome = await feedback.handleEvent({
 *   metadata: { queryId: "q1", query: "SELECT 1" },
 *   statistics: { cpuTime: 0.5, peakUserMemoryBytes: 1024 },
 *   context: {},
 * });
 * console.assert(outcome.joined && outcome.actual === "light");
 * console.assert(feedback.confusion().v1.trueNegative === 1);
 * ```
 */
export function createFeedbackLoop(options: FeedbackOptions): FeedbackLoop {
  const { store } = options;
  const thresholds = options.thresholds ?? PRODUCTION_THRESHOLDS;
  const smallCluster = options.smallCluster ?? DEFAULT_FEEDBACK_OPTIONS.smallCluster;
  const ignoredErrors = new Set(
    options.templateCacheIgnoredErrors ?? DEFAULT_FEEDBACK_OPTIONS.templateCacheIgnoredErrors,
  );
  const maxInFlight = options.maxInFlight ?? DEFAULT_FEEDBACK_OPTIONS.maxInFlight;
  const log = options.log ?? ((line) => console.log(JSON.stringify(line)));
  const labeledLog = options.labeledLogPath ? new LabeledLog(options.labeledLogPath) : undefined;

  const matrix = new ConfusionMatrix();
  const events: Record<string, number> = {};
  const inFlight = new Set<Promise<unknown>>();
  let templateMarks = 0;
  let dropped = 0;
  let failed = 0;

  function kindOf(decision: DecisionRecord | undefined, sql: string): StatementKind {
    if (decision && STATEMENT_KINDS.has(decision.statementKind)) {
      return decision.statementKind as StatementKind;
    }
    return statementKind(lex(sql).tokens);
  }

  function clusterOf(
    explicit: string | undefined,
    environment: string | undefined,
    decision: DecisionRecord | undefined,
  ): string {
    // The URL path names the cluster; else Trino's own `node.environment`; else the decision.
    for (const name of [explicit, environment, decision?.targetCluster]) {
      if (name !== undefined && CLUSTER_NAME.test(name)) return name;
    }
    return "unknown";
  }

  async function handleEvent(
    event: QueryCompletedEvent,
    explicitCluster?: string,
  ): Promise<FeedbackOutcome> {
    const queryId = event.metadata.queryId;
    const sql = event.metadata.query ?? "";
    if (isShadowCopy(event.context)) return shadowCopyOutcome(event, explicitCluster);
    // Decisions made before Trino assigned the id (Envoy ext_authz) are stored by join key.
    const decision = await store.getDecision(queryId) ??
      await store.getDecision(decisionJoinKey(eventToQueryInput(event)));
    const cluster = clusterOf(explicitCluster, event.context?.environment, decision);
    if (cluster === smallCluster) options.guards?.smallCompletion(isResourceFailure(event));
    const label = labelEvent(event, thresholds, kindOf(decision, sql));
    const actual: RouteClass | null = label.heavy === null ? null : label.heavy ? "heavy" : "light";
    const predicted = decision?.decision;

    if (decision && actual !== null) {
      matrix.record(decision.modelVersion, decision.decision, actual);
      // Shared across replicas; a degraded store drops it and the local matrix still counts.
      await store.incrementCounter(
        confusionCounterName(decision.modelVersion, decision.decision, actual),
      );
      if (isModelReason(decision.reason)) options.guards?.labelled(decision.decision, actual);
      const challenger = decision.challenger;
      if (challenger && isModelReason(challenger.reason)) {
        // Per version, beside the champion: the challenger's live confusion counts.
        matrix.record(challenger.modelVersion, challenger.decision, actual);
        await store.incrementCounter(
          confusionCounterName(challenger.modelVersion, challenger.decision, actual),
        );
      }
    }

    let markedTemplate = false;
    const errorName = event.failureInfo?.errorCode?.name ?? "";
    if (isResourceFailure(event) && cluster === smallCluster && !ignoredErrors.has(errorName)) {
      // The decision's fingerprint is the very key the router looked up; recompute only when
      // the decision is unknown.
      const fingerprint = decision?.templateFingerprint || (sql ? sqlTemplateFingerprint(sql) : "");
      if (fingerprint) {
        await store.markTemplateHeavy(fingerprint);
        templateMarks++;
        markedTemplate = true;
      }
    }

    const logged = labeledLog
      ? await labeledLog.append({ ...event, routing: decision ?? null })
      : false;

    const result = actual === null ? "unlabeled" : decision ? "joined" : "unjoined";
    const key = `${cluster}|${result}`;
    events[key] = (events[key] ?? 0) + 1;

    const outcome: FeedbackOutcome = {
      queryId,
      cluster,
      joined: decision !== undefined,
      predicted,
      actual,
      because: label.because,
      markedTemplate,
      logged,
    };
    // Identifiers and outcome only: the SQL stays in the labeled log.
    log({
      level: "info",
      msg: "query completed",
      ...outcome,
      ...(decision ? { reason: decision.reason, modelVersion: decision.modelVersion } : {}),
      ...(errorName ? { errorName } : {}),
    });
    return outcome;
  }

  /**
   * A shadow-route copy's event: Small's health (the resource-failure guard), nothing else. It
   * is never joined (the original query's own event, from Large, is) nor counted in confusion.
   */
  function shadowCopyOutcome(event: QueryCompletedEvent, explicit?: string): FeedbackOutcome {
    const cluster = clusterOf(explicit, event.context?.environment, undefined);
    if (cluster === smallCluster) options.guards?.smallCompletion(isResourceFailure(event));
    const key = `${cluster}|shadow-copy`;
    events[key] = (events[key] ?? 0) + 1;
    // Copies are reads by construction.
    const label = labelEvent(event, thresholds, "read");
    const outcome: FeedbackOutcome = {
      queryId: event.metadata.queryId,
      cluster,
      joined: false,
      predicted: undefined,
      actual: label.heavy === null ? null : label.heavy ? "heavy" : "light",
      because: label.because,
      markedTemplate: false,
      logged: false,
    };
    log({ level: "info", msg: "shadow copy completed", ...outcome });
    return outcome;
  }

  async function safeHandleEvent(
    event: QueryCompletedEvent,
    cluster?: string,
  ): Promise<FeedbackOutcome> {
    try {
      return await handleEvent(event, cluster);
    } catch (error) {
      failed++;
      log({
        level: "error",
        msg: "feedback event failed",
        queryId: event?.metadata?.queryId,
        // A bug's own message, cut short; the event itself is never logged.
        error: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 200) : "unknown",
      });
      return {
        queryId: String(event?.metadata?.queryId ?? ""),
        cluster: clusterOf(cluster, event?.context?.environment, undefined),
        joined: false,
        predicted: undefined,
        actual: null,
        because: "unrelated-failure",
        markedTemplate: false,
        logged: false,
      };
    }
  }

  async function idle(): Promise<void> {
    while (inFlight.size > 0) await Promise.all(inFlight);
  }

  return {
    handleEvent: safeHandleEvent,
    accept(event, cluster) {
      if (inFlight.size >= maxInFlight) {
        dropped++;
        return false;
      }
      const done: Promise<unknown> = safeHandleEvent(event, cluster).finally(() =>
        inFlight.delete(done)
      );
      inFlight.add(done);
      return true;
    },
    idle,
    confusion: () => matrix.snapshot(),
    async sharedConfusion() {
      const shared = snapshotFromCounters(await store.readCounters());
      return Object.keys(shared).length > 0 ? shared : matrix.snapshot();
    },
    stats: () => ({
      events: { ...events },
      templateMarks,
      dropped,
      failed,
      labeledLog: labeledLog?.stats ?? { written: 0, failed: 0 },
    }),
    reopenLabeledLog: () => labeledLog?.reopen() ?? Promise.resolve(),
    async close() {
      await idle();
      await labeledLog?.close();
    },
  };
}

/** Decisions the model made itself (not writes, template-cache hits or fallbacks). */
const isModelReason = (reason: string) => reason === "model" || reason === "parse-fallback";
