/**
 * Trino Smart Routing as a library: classify a Trino query as light or heavy in-process, with
 * no HTTP and no global state. The service (`src/main.ts`) and every adapter use exactly this
 * router. This entry holds what an embedding user needs: the router, the models it scores with,
 * the decision types and the template fingerprint a {@linkcode TemplateCache} implementer keys
 * by. Featurizing, labeling and manifest validation for training live in `training/mod.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRouter, directoryModelSource, loadModelSet } from "./mod.ts";
 * const models = await loadModelSet(directoryModelSource("models"));
 * const router = createRouter({ models, clusters: { small: "trino-small:8080", large: "trino-large:8080" } });
 * const decision = await router.route({ sqlText: "SELECT 1", user: "alice" });
 * assert(decision.decision === "light" || decision.decision === "heavy");
 * await models.close();
 * ```
 *
 * @module
 */

export {
  clusterOf,
  type Clusters,
  type ClusterSize,
  createRouter,
  type DecisionExplanation,
  type DecisionReason,
  type QueryClass,
  type RouteDecision,
  type RouteInput,
  type Router,
  type RouterOptions,
  type RouteTimings,
  type TemplateCache,
} from "./src/routing/router.ts";
export type {
  ColdParse,
  FeatureSpec,
  Featurized,
  Featurizer,
  QueryInput,
} from "./src/features/featurizer.ts";
export {
  CATEGORY_NAMES,
  type CategoryName,
  type QueryContext,
} from "./src/features/context_features.ts";
export type { TfidfSpec } from "./src/features/tfidf.ts";
export type { TableCatalog } from "./src/features/table_catalog.ts";
export type {
  HistoryCounts,
  HistoryKeys,
  HistoryReader,
  HistorySnapshot,
} from "./src/features/history.ts";
export {
  CST_FEATURE_NAMES,
  type CstFeatureName,
  type CstResult,
  type ParseOutcome,
} from "./src/features/cst_features.ts";
export type { StatementKind } from "./src/sql/statement_kind.ts";
export { sqlTemplateFingerprint } from "./src/sql/normalize.ts";
export type { Explainer, Explanation, FeatureContribution } from "./src/model/explain.ts";
export type { NoveltyCheck, NoveltyRule } from "./src/model/novelty.ts";
export { ManifestError, type ModelManifest, type OnnxSignature } from "./src/model/manifest.ts";
export {
  directoryModelSource,
  httpModelSource,
  type ModelBundle,
  type ModelCatalog,
  type ModelSource,
} from "./src/model/model_source.ts";
export {
  type LoadedModel,
  loadModelSet,
  type ModelSet,
  modelSetFromBundles,
  UnknownModelVersionError,
} from "./src/model/model_set.ts";
export { HEURISTIC_VERSION } from "./src/model/heuristic.ts";
export type { Scorer } from "./src/model/scorer.ts";
export { useOnnxWasm } from "./src/model/onnx_scorer.ts";
