/**
 * The feedback loop: each Trino query-completed event is joined with the router's decision,
 * labelled by the shared label rules, counted in the live confusion matrix, fed to the template
 * cache when Small ran out of resources, added to the template's and user's history counts, and
 * appended to the labeled log for the next training.
 *
 * @module
 */

import { decisionJoinKey, decisionRecordKey } from "../sql/join_key.ts";
import { isModelDecision, type QueryClass } from "../routing/router.ts";
import {
  eventToQueryInput,
  isResourceFailure,
  type Label,
  labelEvent,
  type LabelThresholds,
  marksTemplateHeavy,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "../labels/query_event.ts";
import { historyIncrements, historyOutcome, queryHistoryKeys } from "../features/history.ts";
import { lex } from "../sql/lexer.ts";
import { sqlTemplateFingerprint } from "../sql/normalize.ts";
import { STATEMENT_KINDS, type StatementKind, statementKind } from "../sql/statement_kind.ts";
import type { DecisionRecord, Store } from "../store/store.ts";
import {
  confusionCounterName,
  ConfusionMatrix,
  type ConfusionSnapshot,
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
 * import assert from "node:assert/strict";
 * const options: FeedbackOptions = { store: new MemoryStore(), labeledLogPath: undefined };
 * assert.equal(options.clusters, undefined);
 * ```
 */
export interface FeedbackOptions {
  /** Where decisions are read and heavy templates written. */
  readonly store: Store;
  /** Label thresholds; the same values the training set is labelled with. */
  readonly thresholds?: LabelThresholds;
  /** Operator-enabled labeled log (JSON Lines, contains SQL); absent = no file. */
  readonly labeledLogPath?: string;
  /**
   * The two clusters, each by the names that identify it: first the name events use (the path
   * `/v1/events/<name>`, Trino's `node.environment`; also the `cluster` metric label), then any
   * alias such as the router's target address (`DecisionRecord.targetCluster`). Nothing else
   * is a cluster: an event naming another one is refused (see `accept`).
   */
  readonly clusters?: FeedbackClusters;
  /** Largest labeled log file; lines past it are counted and dropped until a rotation. */
  readonly labeledLogMaxBytes?: number;
  /** Events handled in the background at once (see {@linkcode FeedbackLoop.accept}). */
  readonly maxInFlight?: number;
  /** The rollout guards fed with labelled model decisions and Small's completions. */
  readonly guards?: Pick<GuardInputs, "labelled" | "smallCompletion">;
  /** One structured line per handled event; never given SQL. Defaults to JSON on stdout. */
  readonly log?: (line: Record<string, unknown>) => void;
}

/** The names of the Small and Large clusters; the first of each is its canonical name. */
export interface FeedbackClusters {
  readonly small: readonly [string, ...string[]];
  readonly large: readonly [string, ...string[]];
}

/** Defaults of {@linkcode FeedbackOptions}. */
export const DEFAULT_FEEDBACK_OPTIONS = {
  clusters: { small: ["small"], large: ["large"] } as FeedbackClusters,
  maxInFlight: 1_000,
} as const;

/** What {@linkcode FeedbackLoop.accept} did with an event. */
export type AcceptResult = "accepted" | "busy" | "unknown-cluster";

/**
 * What the loop made of one event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FeedbackOutcome } from "./feedback_loop.ts";
 * const outcome: FeedbackOutcome = {
 *   queryId: "q1", cluster: "small", joined: false, predicted: undefined, actual: "light",
 *   because: "light", markedTemplate: false, logged: false,
 * };
 * assert(outcome.actual === "light");
 * ```
 */
export interface FeedbackOutcome {
  readonly queryId: string;
  /**
   * Where the query ran, by its canonical name: the event's path, else its `node.environment`,
   * else the decision's target; `unknown` when none names a configured cluster.
   */
  readonly cluster: string;
  /** True when the router's decision for this query was found. */
  readonly joined: boolean;
  readonly predicted: QueryClass | undefined;
  /** The true label; `null` for a failure unrelated to resources (no label, as in training). */
  readonly actual: QueryClass | null;
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
 * import assert from "node:assert/strict";
 * import type { FeedbackStats } from "./feedback_loop.ts";
 * const stats: FeedbackStats = {
 *   events: {}, templateMarks: 0, dropped: 0, failed: 0, rejectedClusters: 0,
 *   labeledLog: { written: 0, failed: 0, overLimit: 0 },
 * };
 * assert(stats.dropped === 0);
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
  /** Events refused because their path named no configured cluster. */
  readonly rejectedClusters: number;
  readonly labeledLog: {
    readonly written: number;
    readonly failed: number;
    readonly overLimit: number;
  };
}

/**
 * The feedback loop; see {@linkcode createFeedbackLoop}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop, type FeedbackLoop } from "./feedback_loop.ts";
 * const feedback: FeedbackLoop = createFeedbackLoop({ store: new MemoryStore(), log: () => {} });
 * const event = { metadata: { queryId: "q1" }, statistics: {}, context: {} };
 * assert(feedback.accept(event) === "accepted");
 * assert(feedback.accept(event, "elsewhere") === "unknown-cluster");
 * await feedback.idle();
 * ```
 */
export interface FeedbackLoop {
  /** Handles one event and says what came of it. Never rejects. */
  handleEvent(event: QueryCompletedEvent, cluster?: string): Promise<FeedbackOutcome>;
  /**
   * Starts handling an event in the background, so that the HTTP answer to Trino does not wait
   * for the store or the disk. `busy` when too many events are in flight (the caller can ask
   * Trino to retry); `unknown-cluster` when `cluster` names no configured cluster (counted in
   * one series, whatever the name).
   */
  accept(event: QueryCompletedEvent, cluster?: string): AcceptResult;
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

const STATEMENT_KIND_SET: ReadonlySet<string> = new Set(STATEMENT_KINDS);
const UNKNOWN_CLUSTER = "unknown";

/**
 * Creates the feedback loop. Everything configurable is resolved here; per event the loop does
 * one store read, at most one store write, and one line of file output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory_store.ts";
 * import { createFeedbackLoop } from "./feedback_loop.ts";
 * const store = new MemoryStore();
 * const feedback = createFeedbackLoop({ store, log: () => {} });
 * import { decisionRecordKey } from "../sql/join_key.ts";
 * await store.putDecision(decisionRecordKey({ queryId: "q1", sqlText: "SELECT 1" }), {
 *   queryId: "q1", decision: "light", reason: "model", modelVersion: "v1", modelScore: 0.1,
 *   statementKind: "read", templateFingerprint: "0123456789abcdef", targetCluster: "small",
 *   decidedAt: new Date().toISOString(),
 * });
 * const outcome = await feedback.handleEvent({
 *   metadata: { queryId: "q1", query: "SELECT 1" },
 *   statistics: { cpuTime: 0.5, peakUserMemoryBytes: 1024 },
 *   context: {},
 * });
 * assert(outcome.joined && outcome.actual === "light");
 * assert(feedback.confusion().v1.trueNegative === 1);
 * ```
 */
export function createFeedbackLoop(options: FeedbackOptions): FeedbackLoop {
  const { store } = options;
  const thresholds = options.thresholds ?? PRODUCTION_THRESHOLDS;
  const clusters = options.clusters ?? DEFAULT_FEEDBACK_OPTIONS.clusters;
  // Every name of a cluster → its canonical name (the first).
  const canonical = new Map<string, string>();
  for (const names of [clusters.small, clusters.large]) {
    for (const name of names) if (!canonical.has(name)) canonical.set(name, names[0]);
  }
  const smallCluster = clusters.small[0];
  const maxInFlight = options.maxInFlight ?? DEFAULT_FEEDBACK_OPTIONS.maxInFlight;
  const log = options.log ?? ((line) => console.log(JSON.stringify(line)));
  const labeledLog = options.labeledLogPath
    ? new LabeledLog(options.labeledLogPath, { maxBytes: options.labeledLogMaxBytes })
    : undefined;

  const matrix = new ConfusionMatrix();
  const events: Record<string, number> = {};
  const inFlight = new Set<Promise<unknown>>();
  let templateMarks = 0;
  let dropped = 0;
  let failed = 0;
  let rejectedClusters = 0;

  function kindOf(decision: DecisionRecord | undefined, sql: string): StatementKind {
    if (decision && STATEMENT_KIND_SET.has(decision.statementKind)) {
      return decision.statementKind as StatementKind;
    }
    return statementKind(lex(sql).tokens);
  }

  /** The canonical name of a configured cluster; undefined for anything else. */
  const clusterNamed = (name: unknown): string | undefined =>
    typeof name === "string" ? canonical.get(name) : undefined;

  /**
   * Where the event says the query ran: the URL path, else Trino's own `node.environment`.
   * Only configured names count, so metric labels stay bounded whatever events carry.
   */
  const reportedCluster = (explicit: string | undefined, event: QueryCompletedEvent) =>
    clusterNamed(explicit) ?? clusterNamed(event.context?.environment);

  /**
   * The decision this event completes, taken from the store so that it joins one event only.
   * A decision for the other cluster is left alone: the event is of a retry (the query failed
   * on Small and ran again on Large), and the Small event is the one that joins.
   */
  async function joinDecision(
    event: QueryCompletedEvent,
    ranOn: string | undefined,
  ): Promise<DecisionRecord | undefined> {
    const input = eventToQueryInput(event);
    for (const key of new Set([decisionRecordKey(input), decisionJoinKey(input)])) {
      const found = await store.takeDecision(key);
      if (found === undefined) continue;
      if (ranOn !== undefined && clusterNamed(found.targetCluster) !== ranOn) {
        // Put back for the event of the cluster it names (one store call in the common case).
        await store.putDecision(key, found);
        return undefined;
      }
      return found;
    }
    return undefined;
  }

  async function handleEvent(
    event: QueryCompletedEvent,
    explicitCluster?: string,
  ): Promise<FeedbackOutcome> {
    const queryId = event.metadata.queryId;
    const sql = event.metadata.query ?? "";
    if (isShadowCopy(event.context)) return shadowCopyOutcome(event, explicitCluster);
    const reported = reportedCluster(explicitCluster, event);
    const decision = await joinDecision(event, reported);
    const cluster = reported ?? clusterNamed(decision?.targetCluster) ?? UNKNOWN_CLUSTER;
    if (cluster === smallCluster) options.guards?.smallCompletion(isResourceFailure(event));
    const label = labelEvent(event, thresholds, kindOf(decision, sql));
    const actual: QueryClass | null = label.heavy === null ? null : label.heavy ? "heavy" : "light";
    const predicted = decision?.decision;

    // Only the model's own decisions say how good it is: writes, transactions and template-cache
    // hits are Large by policy and would count as true positives.
    if (decision && actual !== null) {
      if (isModelDecision(decision.reason)) {
        matrix.record(decision.modelVersion, decision.decision, actual);
        // Shared across replicas; a degraded store drops it and the local matrix still counts.
        await store.incrementCounter(
          confusionCounterName(decision.modelVersion, decision.decision, actual),
        );
        options.guards?.labelled(decision.decision, actual);
      }
      const challenger = decision.challenger;
      if (challenger && isModelDecision(challenger.reason)) {
        // Per version, beside the champion: the challenger's live confusion counts.
        matrix.record(challenger.modelVersion, challenger.decision, actual);
        await store.incrementCounter(
          confusionCounterName(challenger.modelVersion, challenger.decision, actual),
        );
      }
    }

    let markedTemplate = false;
    const errorName = event.failureInfo?.errorCode?.name ?? "";
    // Only a query the router sent to Small marks its template: an event for a query the router
    // never decided (or decided for Large) must not change where other queries go.
    if (
      decision !== undefined && cluster === smallCluster &&
      clusterNamed(decision.targetCluster) === smallCluster &&
      marksTemplateHeavy(event.failureInfo?.errorCode)
    ) {
      // The decision's fingerprint is the very key the router looked up.
      const fingerprint = decision.templateFingerprint || sqlTemplateFingerprint(sql);
      if (fingerprint) {
        await store.markTemplateHeavy(fingerprint);
        templateMarks++;
        markedTemplate = true;
      }
    }

    // The history features' counts (shared through the store): joined events only, for the
    // reasons below (what the router never decided must not move other decisions) and so that
    // the training replay of the labeled log rebuilds exactly these counts.
    if (decision && label.heavy !== null) {
      await store.addHistory(
        historyIncrements(
          queryHistoryKeys(eventToQueryInput(event)),
          historyOutcome(event, label.heavy),
        ),
      );
    }

    // Joined events only: the next training set learns from queries the router decided, never
    // from whatever else reaches this endpoint.
    const logged = labeledLog && decision
      ? await labeledLog.append({ ...event, routing: decision })
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
    const cluster = reportedCluster(explicit, event) ?? UNKNOWN_CLUSTER;
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
        cluster: clusterNamed(cluster) ?? UNKNOWN_CLUSTER,
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
      if (cluster !== undefined && clusterNamed(cluster) === undefined) {
        rejectedClusters++;
        return "unknown-cluster";
      }
      if (inFlight.size >= maxInFlight) {
        dropped++;
        return "busy";
      }
      const done: Promise<unknown> = safeHandleEvent(event, cluster).finally(() =>
        inFlight.delete(done)
      );
      inFlight.add(done);
      return "accepted";
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
      rejectedClusters,
      labeledLog: labeledLog?.stats ?? { written: 0, failed: 0, overLimit: 0 },
    }),
    reopenLabeledLog: () => labeledLog?.reopen() ?? Promise.resolve(),
    async close() {
      await idle();
      await labeledLog?.close();
    },
  };
}
