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
  type ColdParse,
  createFeaturizer,
  FEATURE_SCHEMA_VERSION,
  featureNames,
  type FeatureSpec,
  type Featurized,
  type Featurizer,
  FIXED_ONLY_SPEC,
  type QueryInput,
} from "../src/features/featurizer.ts";
export { fitTfidf, type TfidfSpec } from "../src/features/tfidf.ts";
export { lex, type LexResult, type Token } from "../src/sql/lexer.ts";
export { type StatementKind, statementKind } from "../src/sql/statement_kind.ts";
export {
  queryTemplate,
  sqlTemplateFingerprint,
  templateFingerprint,
} from "../src/sql/normalize.ts";
export { ManifestError, type ModelManifest, validateManifest } from "../src/model/manifest.ts";
export {
  eventToQueryInput,
  type Label,
  labelEvent,
  type LabelThresholds,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "../src/labels/query_event.ts";
