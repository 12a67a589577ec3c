/**
 * The classifier core: featurize → infer → decide. Pure of transport: it knows nothing of HTTP,
 * Envoy, Trino Gateway or Redis; adapters translate their requests into a {@linkcode RouteInput}
 * and a {@linkcode RouteDecision} back into their own answer.
 *
 * @module
 */

import type { ColdParse, QueryInput } from "../features/featurizer.ts";
import type { ParseOutcome } from "../features/cst_features.ts";
import { type HistoryReader, queryHistoryKeys, readHistorySnapshot } from "../features/history.ts";
import type { LoadedModel, ModelSet } from "../model/model_set.ts";
import type { ModelManifest } from "../model/manifest.ts";
import type { FeatureContribution } from "../model/explain.ts";
import { mustRunOnLarge, type StatementKind } from "../sql/statement_kind.ts";
import { LruCache } from "../lru_cache.ts";
import { sharingJoinKey } from "../sql/join_key.ts";

/** A query and its context, as every adapter hands it to the router. */
export interface RouteInput extends QueryInput {
  /**
   * The Trino transaction the query runs in (`X-Trino-Transaction-Id`; absent for `NONE`). The
   * transaction exists only on the cluster that ran `START TRANSACTION`, which is Large (a DDL
   * kind), so every statement inside one goes to Large.
   */
  readonly transactionId?: string;
}

/** The two answers. */
export type QueryClass = "light" | "heavy";

/**
 * Why the router decided as it did:
 * - `model`: the model's score against its threshold;
 * - `parse-fallback`: the model, on token features only (the CST parser refused or was not
 *   allowed to see the query);
 * - `write-statement`: writes and DDL always run on Large;
 * - `transaction`: statements inside an explicit transaction run where it started: Large;
 * - `template-cache`: the query's template failed on Small for lack of resources recently;
 * - `unfamiliar`: the query is outside what the model was trained on (an unknown table, a
 *   feature beyond every training row's range: the bundle's novelty rule), so Large.
 *
 * The router's own reasons only: adapters answer for requests it never decided (see
 * `AnswerReason` in `src/server/route_and_report.ts`).
 */
export type DecisionReason =
  | "model"
  | "parse-fallback"
  | "write-statement"
  | "transaction"
  | "template-cache"
  | "unfamiliar";

/** The two clusters, by size: what every adapter names a decision's destination by. */
export type ClusterSize = "small" | "large";

/**
 * The one mapping of a class onto a cluster: heavy → Large, light → Small. Adapters index their
 * own names (addresses, Envoy groups, Gateway groups) with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusterOf } from "./router.ts";
 * assert.equal(clusterOf("heavy"), "large");
 * assert.equal({ small: "s:8080", large: "l:8080" }[clusterOf("light")], "s:8080");
 * ```
 */
export function clusterOf(decision: QueryClass): ClusterSize {
  return decision === "heavy" ? "large" : "small";
}

/** The addresses the decision maps onto. */
export interface Clusters {
  /** Address of the Small cluster (light queries). */
  readonly small: string;
  /** Address of the Large cluster (heavy queries and every fallback). */
  readonly large: string;
}

/** The router's answer; field names follow the design document's API contract. */
export interface RouteDecision {
  /** The Trino query id, when the caller knew it. */
  readonly queryId?: string;
  /** Light or heavy. */
  readonly decision: QueryClass;
  /** The address of {@linkcode Clusters} the decision maps onto. */
  readonly targetCluster: string;
  /** The model version that decided. */
  readonly modelVersion: string;
  /** The model's probability of heavy (1 for rule decisions that skip the model). */
  readonly modelScore: number;
  /** Why the router decided so. */
  readonly reason: DecisionReason;
  /** The statement's kind (`select`, `insert`, ...). */
  readonly statementKind: StatementKind;
  /** Whether the CST parser saw the query. */
  readonly parseOutcome: ParseOutcome;
  /** Fingerprint of the literal-free template (the template cache's key). */
  readonly templateFingerprint: string;
  /**
   * The history epoch whose counts the model read (models with history features over a store
   * with epochs): replicas in the same epoch read the same counts, so the same query decides
   * the same on any of them.
   */
  readonly historyEpoch?: number;
}

/**
 * Time spent per stage of one decision, in milliseconds: what {@linkcode RouterOptions.onTimings}
 * is told (the stages happen inside the router, so only it can time them).
 */
export interface RouteTimings {
  /** Milliseconds spent featurizing. */
  readonly featurizeMs: number;
  /** Milliseconds spent scoring. */
  readonly inferMs: number;
  /** The decision came from the decision cache. */
  readonly cached: boolean;
}

/** Answers "was this template recently too heavy for Small?"; the store implements it. */
export interface TemplateCache {
  /** Whether the template (`sqlTemplateFingerprint` of its SQL) recently failed on Small for lack of resources. */
  isTemplateHeavy(fingerprint: string): Promise<boolean>;
}

/** Options of {@linkcode createRouter}. */
export interface RouterOptions {
  /** The loaded model versions. */
  readonly models: ModelSet;
  /** The cluster addresses decisions map onto. */
  readonly clusters: Clusters;
  /** Recently-too-heavy templates (absent: no template rule). */
  readonly templateCache?: TemplateCache;
  /**
   * Where history counts are read for models with history features (the shared store, so every
   * replica reads the same); absent or failing: those features read "no history".
   */
  readonly history?: HistoryReader;
  /** Entries of the decision cache (identical SQL + context + version); 0 disables it. */
  readonly cacheSize?: number;
  /**
   * Where cold templates are parsed (the worker pool of `cst_pool.ts`); without it they are
   * parsed inline, on the caller's thread.
   */
  readonly coldParse?: ColdParse;
  /**
   * Told how long each stage of a decision took, once per `route` call (a challenger's included)
   * just before it resolves; the service feeds its stage histograms with it. Must not throw.
   * The decision itself carries no timings: an adapter times the whole call around `route`.
   */
  readonly onTimings?: (timings: RouteTimings, decision: RouteDecision) => void;
}

/** Why the model scored a query as it did (`POST /v1/route?explain=true`). */
export interface DecisionExplanation {
  /** The model version explained. */
  readonly modelVersion: string;
  /** False for models without a tree ensemble (the heuristic): `top` is then empty. */
  readonly available: boolean;
  /** The novelty rule's finding (`kw_join=14>12`, `tables_unknown=1>0`), else null. */
  readonly unfamiliar: string | null;
  /** Margin (log-odds of heavy) every query starts from. */
  readonly bias: number;
  /** Features with the largest contributions to the margin, largest first. */
  readonly top: readonly FeatureContribution[];
}

/** The classifier. */
export interface Router {
  /**
   * Explains the model's score of one query: tree-path contributions of its features and the
   * novelty rule's finding. Not cached; the decision itself is `route`'s.
   */
  explain(input: RouteInput, modelVersion?: string): Promise<DecisionExplanation>;
  /** Decides for one query; throws `UnknownModelVersionError` for a version not loaded. */
  route(input: RouteInput, modelVersion?: string): Promise<RouteDecision>;
  /** The loaded model versions. */
  readonly models: ModelSet;
  /** The cluster addresses decisions map onto. */
  readonly clusters: Clusters;
}

type CachedDecision = Omit<RouteDecision, "queryId">;

/**
 * Creates the router. Deterministic: the same query, context and model version always give the
 * same decision, cached or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRouter } from "./router.ts";
 * import { modelSetFromBundles } from "../model/model_set.ts";
 * const router = createRouter({
 *   models: await modelSetFromBundles([]),
 *   clusters: { small: "trino-small:8080", large: "trino-large:8080" },
 * });
 * const decision = await router.route({ sqlText: "DELETE FROM t" });
 * assert(decision.reason === "write-statement" && decision.targetCluster === "trino-large:8080");
 * ```
 */
export function createRouter(options: RouterOptions): Router {
  const { models, clusters, templateCache, history } = options;
  const { coldParse, onTimings } = options;
  // Entries have a bounded size (the key is a fixed-length digest of the varying parts, the
  // decision a handful of short strings), so the entry bound is a byte bound: ~1 KB each.
  const cache = new LruCache<string, CachedDecision>(options.cacheSize ?? 10_000);

  const targetOf = (decision: QueryClass) => clusters[clusterOf(decision)];

  /** Featurizes and scores one query: everything about a decision that the cache may keep. */
  async function decide(
    model: LoadedModel,
    input: RouteInput,
  ): Promise<{ decision: CachedDecision; timings: RouteTimings }> {
    const started = performance.now();
    const features = coldParse
      ? await model.featurize.withColdParse(input, coldParse)
      : model.featurize(input);
    const featurized = performance.now();
    const base = {
      modelVersion: model.manifest.version,
      statementKind: features.statementKind,
      parseOutcome: features.parseOutcome,
      templateFingerprint: features.templateFingerprint,
      ...(input.history?.epoch === undefined ? {} : { historyEpoch: input.history.epoch }),
    };
    const featurizeMs = featurized - started;
    const policy = policyReason(features.statementKind, input);
    if (policy !== undefined) {
      return {
        decision: {
          ...base,
          decision: "heavy",
          targetCluster: clusters.large,
          modelScore: 1,
          reason: policy,
        },
        timings: { featurizeMs, inferMs: 0, cached: false },
      };
    }
    const [score] = await model.scorer.score([features.vector]);
    const unfamiliar = model.novelty?.(features.vector) !== undefined;
    const predicted: QueryClass = unfamiliar || !(score < model.manifest.threshold)
      ? "heavy"
      : "light";
    return {
      decision: {
        ...base,
        decision: predicted,
        targetCluster: targetOf(predicted),
        modelScore: roundScore(score),
        reason: unfamiliar
          ? "unfamiliar"
          : features.parseOutcome === "parsed"
          ? "model"
          : "parse-fallback",
      },
      timings: { featurizeMs, inferMs: performance.now() - featurized, cached: false },
    };
  }

  return {
    models,
    clusters,
    async explain(input, modelVersion) {
      const model = models.get(modelVersion);
      const { vector } = model.featurize(await modelInput(model.manifest, input, history));
      const unfamiliar = model.novelty?.(vector) ?? null;
      const explained = model.explain?.(vector);
      return {
        modelVersion: model.manifest.version,
        available: explained !== undefined,
        unfamiliar,
        bias: explained?.bias ?? 0,
        top: explained?.top ?? [],
      };
    },
    async route(given, modelVersion) {
      const model = models.get(modelVersion);
      const input = await modelInput(model.manifest, given, history);
      // The featurizer keys exactly what it reads; the router adds what it reads itself.
      const key = JSON.stringify([
        model.manifest.version,
        model.featurize.inputKey(input),
        // Whether, not which: the transaction id changes the decision only by existing.
        input.transactionId !== undefined,
      ]);
      let decision = cache.get(key);
      let timings: RouteTimings = { featurizeMs: 0, inferMs: 0, cached: true };
      if (decision === undefined) {
        ({ decision, timings } = await decide(model, input));
        // A parse that missed its budget depends on timing: the next request must try again.
        if (decision.parseOutcome !== "over-budget") cache.set(key, decision);
      }
      // The template cache is live state, so it is consulted on every call, cached or not; only
      // the model's part of a decision is cached.
      if (
        !isPolicyDecision(decision.reason) &&
        await isKnownHeavy(templateCache, decision.templateFingerprint)
      ) {
        decision = toTemplateCacheDecision(decision);
      }
      const answer = { queryId: input.queryId, ...decision };
      onTimings?.(timings, answer);
      return answer;
    },
  };

  function toTemplateCacheDecision(decision: CachedDecision): CachedDecision {
    return {
      ...decision,
      decision: "heavy",
      targetCluster: clusters.large,
      reason: "template-cache",
    };
  }
}

/**
 * The input as a model reads it: with the history snapshot read through `reader` when the
 * model has history features, and never with one a caller supplied. The snapshot becomes part of
 * the decision cache's key (`inputKey`), so the same query, context, model version and history
 * give the same decision, cached or not, on any replica. (Exported for the offline replay,
 * which must read history exactly as the router does.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelInput } from "./router.ts";
 * import { FIXED_ONLY_SPEC } from "../features/featurizer.ts";
 * const forged = { sqlText: "SELECT 1", history: { user: { runs: 9, heavy: 0, cpu: [], memory: [] } } };
 * assert.equal((await modelInput({ featureSpec: FIXED_ONLY_SPEC }, forged)).history, undefined);
 * ```
 */
export async function modelInput<T extends QueryInput>(
  manifest: Pick<ModelManifest, "featureSpec">,
  input: T,
  reader?: HistoryReader,
): Promise<T> {
  if (manifest.featureSpec.history && reader) {
    const history = await readHistorySnapshot(reader, queryHistoryKeys(input));
    return sharingJoinKey(input, { ...input, history });
  }
  return input.history === undefined
    ? input
    : sharingJoinKey(input, { ...input, history: undefined });
}

/** The rule that sends a query to Large whatever the model says, if one applies. */
function policyReason(
  kind: StatementKind,
  input: RouteInput,
): "write-statement" | "transaction" | undefined {
  if (mustRunOnLarge(kind)) return "write-statement";
  if (input.transactionId !== undefined) return "transaction";
  return undefined;
}

/**
 * True when a policy, not the model, made the decision (writes, DDL, transactions): such
 * decisions say nothing about the model and are always Large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPolicyDecision } from "./router.ts";
 * assert.equal(isPolicyDecision("write-statement"), true);
 * assert.equal(isPolicyDecision("model"), false);
 * ```
 */
export function isPolicyDecision(reason: DecisionReason): boolean {
  return reason === "write-statement" || reason === "transaction";
}

/**
 * True when the model made the decision (`model`, `parse-fallback`): only these say how good
 * the model is, so only these count in the live confusion matrix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isModelDecision } from "./router.ts";
 * assert.equal(isModelDecision("parse-fallback"), true);
 * assert.equal(isModelDecision("template-cache"), false);
 * ```
 */
export function isModelDecision(reason: string): boolean {
  return reason === "model" || reason === "parse-fallback";
}

async function isKnownHeavy(
  cache: TemplateCache | undefined,
  fingerprint: string,
): Promise<boolean> {
  if (!cache) return false;
  try {
    return await cache.isTemplateHeavy(fingerprint);
  } catch {
    // The template cache is an optimisation; losing it must not cost a decision.
    return false;
  }
}

/** Scores are reported rounded to 6 decimals (stable JSON bytes); decisions use the raw score. */
function roundScore(score: number): number {
  return Number.isFinite(score) ? Math.round(score * 1e6) / 1e6 : 1;
}
