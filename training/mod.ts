/**
 * The training side of the library: the featurizer that turns a query into the model's input
 * vector, TF-IDF fitting, SQL lexing and templates, Trino completion events and their labels,
 * and manifest validation. The router itself is in the root `mod.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeaturizer, featureNames, FIXED_ONLY_SPEC } from "./mod.ts";
 * const featurize = createFeaturizer(FIXED_ONLY_SPEC);
 * const { vector } = featurize({ sqlText: "SELECT 1" });
 * assert.equal(vector.length, featureNames(FIXED_ONLY_SPEC).length);
 * ```
 *
 * @module
 */

export {
  categoryValues,
  type ColdParse,
  createFeaturizer,
  FEATURE_SCHEMA_VERSION,
  featureNames,
  type FeatureSpec,
  type Featurized,
  type Featurizer,
  type FeaturizerOptions,
  FIXED_ONLY_SPEC,
  type QueryInput,
} from "../src/features/featurizer.ts";
export {
  CATEGORY_NAMES,
  type CategoryName,
  type QueryContext,
} from "../src/features/context_features.ts";
export {
  CST_FEATURE_NAMES,
  type CstFeatureName,
  type CstResult,
  type ParseOutcome,
} from "../src/features/cst_features.ts";
export type { CstCache } from "../src/features/cst_cache.ts";
export type { TableCatalog } from "../src/features/table_catalog.ts";
export type { NoveltyRule } from "../src/model/novelty.ts";
export { fitTfidf, type TfidfFitOptions, type TfidfSpec } from "../src/features/tfidf.ts";
export { lex, type LexResult, type Token, type TokenKind } from "../src/sql/lexer.ts";
export { type StatementKind, statementKind } from "../src/sql/statement_kind.ts";
export {
  queryTemplate,
  sqlTemplateFingerprint,
  templateFingerprint,
} from "../src/sql/normalize.ts";
export {
  ManifestError,
  type ModelManifest,
  type OnnxSignature,
  validateManifest,
} from "../src/model/manifest.ts";
export {
  type Duration,
  eventToQueryInput,
  type Label,
  labelEvent,
  type LabelThresholds,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "../src/labels/query_event.ts";
