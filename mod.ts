/**
 * Trino Smart Routing as a library: classify a Trino query as light or heavy in-process, with
 * no HTTP and no global state. The service (`src/main.ts`) and every adapter use exactly this.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRouter, directoryModelSource, loadModelSet } from "./mod.ts";
 * const models = await loadModelSet(directoryModelSource("models"));
 * const router = createRouter({ models, clusters: { small: "trino-small:8080", large: "trino-large:8080" } });
 * const { decision } = await router.route({ sqlText: "SELECT 1", user: "alice" });
 * assert(decision.decision === "light" || decision.decision === "heavy");
 * await models.close();
 * ```
 *
 * @module
 */

export {
  createFeaturizer,
  FEATURE_SCHEMA_VERSION,
  featureNames,
  type FeatureSpec,
  type Featurized,
  type Featurizer,
  FIXED_ONLY_SPEC,
  type QueryInput,
} from "./src/features/featurizer.ts";
export { fitTfidf, type TfidfSpec } from "./src/features/tfidf.ts";
export { lex, type Token } from "./src/sql/lexer.ts";
export { type StatementKind, statementKind } from "./src/sql/statement_kind.ts";
export { queryTemplate, templateFingerprint } from "./src/sql/normalize.ts";
export { ManifestError, type ModelManifest, validateManifest } from "./src/model/manifest.ts";
export {
  directoryModelSource,
  httpModelSource,
  type ModelBundle,
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
export {
  type Clusters,
  createRouter,
  type DecisionReason,
  type RouteDecision,
  type RouteInput,
  type Router,
  type TemplateCache,
} from "./src/routing/router.ts";
export {
  eventToQueryInput,
  labelEvent,
  type LabelThresholds,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "./src/labels/query_event.ts";
