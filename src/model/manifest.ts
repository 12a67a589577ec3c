/**
 * The model manifest: what a model bundle (`models/<version>/manifest.json` + `model.onnx`)
 * promises about itself, and the check that the running featurizer keeps that promise.
 *
 * @module
 */

import { FEATURE_SCHEMA_VERSION, featureNames, type FeatureSpec } from "../features/featurizer.ts";
import { CATEGORY_NAMES } from "../features/context_features.ts";
import { tableCatalogProblem } from "../features/table_catalog.ts";
import { type NoveltyRule, noveltyRuleProblem } from "./novelty.ts";

/** Where the ONNX graph's input and score live. */
export interface OnnxSignature {
  /** File name inside the bundle folder. */
  readonly file: string;
  /** Name of the float32 `[N, features]` input. */
  readonly input: string;
  /** Name of the float32 `[N, 2]` probability output (no ZipMap). */
  readonly output: string;
}

/** A model bundle's manifest. */
export interface ModelManifest {
  /** Unique, date-based version, e.g. `2026-11-24-xgb-a4bcf1`. */
  readonly version: string;
  /** `onnx`: a trained model in the bundle; `heuristic`: the built-in fallback scorer. */
  readonly kind: "onnx" | "heuristic";
  /** The featurizer schema the vector follows; must equal the running featurizer's. */
  readonly featureSchemaVersion: number;
  /** What the featurizer was fitted with (categories, TF-IDF vocabulary, table catalog). */
  readonly featureSpec: FeatureSpec;
  /** Every feature name in vector order; must equal what the featurizer produces. */
  readonly features: readonly string[];
  /** Scores at or above it are heavy. */
  readonly threshold: number;
  /** The ONNX file and its tensor names (`kind: "onnx"` only). */
  readonly onnx?: OnnxSignature;
  /** The unfamiliar-query rule learned at training (absent: every query is familiar). */
  readonly novelty?: NoveltyRule;
  /** Files behind `?explain=true`: `covers` names the per-node training covers (JSON). */
  readonly explain?: { readonly covers: string };
  /** ISO-8601 time the bundle was trained. */
  readonly createdAt?: string;
  /** Free text for people. */
  readonly description?: string;
  /** Evaluation results the training run recorded. */
  readonly metrics?: Readonly<Record<string, unknown>>;
  /** Which logs and splits the model was trained on. */
  readonly trainingData?: Readonly<Record<string, unknown>>;
  /** Library versions of the training run. */
  readonly libraries?: Readonly<Record<string, string>>;
}

/** A manifest that cannot be served, with the reason in the message. */
export class ManifestError extends Error {
  /** Error name, for logs. */
  override name = "ManifestError";
}

function fail(where: string, problem: string): never {
  throw new ManifestError(`${where}: ${problem}`);
}

/**
 * Validates parsed manifest JSON against the featurizer this process runs. A model trained for
 * another feature layout would silently score garbage, so it is refused here instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateManifest } from "./manifest.ts";
 * try {
 *   validateManifest({ version: "v0", featureSchemaVersion: 0 }, "models/v0");
 * } catch (e) {
 *   assert((e as Error).name === "ManifestError");
 * }
 * ```
 */
export function validateManifest(json: unknown, where: string): ModelManifest {
  if (json === null || typeof json !== "object") fail(where, "manifest is not a JSON object");
  const m = json as Record<string, unknown>;
  if (typeof m.version !== "string" || !/^[\w.-]{1,64}$/.test(m.version)) {
    fail(where, "`version` must be 1-64 characters of letters, digits, '.', '_' or '-'");
  }
  if (m.featureSchemaVersion !== FEATURE_SCHEMA_VERSION) {
    fail(
      where,
      `feature schema version ${m.featureSchemaVersion} does not match this router's ` +
        `${FEATURE_SCHEMA_VERSION}; retrain the model with this router's featurizer`,
    );
  }
  if (m.kind !== "onnx" && m.kind !== "heuristic") fail(where, "`kind` must be onnx or heuristic");
  if (typeof m.threshold !== "number" || !(m.threshold >= 0 && m.threshold <= 1)) {
    fail(where, "`threshold` must be a number in [0, 1]");
  }
  const spec = m.featureSpec as FeatureSpec | undefined;
  if (!spec || typeof spec !== "object" || !spec.categories || !spec.tfidf) {
    fail(where, "`featureSpec` with `categories` and `tfidf` is required");
  }
  for (const field of CATEGORY_NAMES) {
    if (!Array.isArray(spec.categories[field])) {
      fail(where, `featureSpec.categories.${field} missing`);
    }
  }
  if (
    !Array.isArray(spec.tfidf.vocabulary) || !Array.isArray(spec.tfidf.idf) ||
    spec.tfidf.vocabulary.length !== spec.tfidf.idf.length
  ) {
    fail(where, "featureSpec.tfidf needs `vocabulary` and `idf` of equal length");
  }
  const catalogProblem = tableCatalogProblem(spec.tableCatalog);
  if (catalogProblem) fail(where, `featureSpec.${catalogProblem}`);
  const expected = featureNames(spec);
  const declared = m.features;
  if (!Array.isArray(declared) || declared.length !== expected.length) {
    fail(
      where,
      `manifest lists ${Array.isArray(declared) ? declared.length : 0} features, ` +
        `the featurizer produces ${expected.length}`,
    );
  }
  const mismatch = expected.findIndex((name, i) => declared[i] !== name);
  if (mismatch >= 0) {
    fail(
      where,
      `feature ${mismatch} is "${declared[mismatch]}", featurizer has "${expected[mismatch]}"`,
    );
  }
  if (m.novelty !== undefined) {
    const problem = noveltyRuleProblem(m.novelty, expected);
    if (problem) fail(where, problem);
  }
  if (m.explain !== undefined) {
    const explain = m.explain as { covers?: unknown };
    if (typeof explain?.covers !== "string" || !/^[\w.-]{1,128}$/.test(explain.covers)) {
      fail(where, "`explain.covers` must name a file of the bundle");
    }
  }
  if (m.kind === "onnx") {
    const onnx = m.onnx as OnnxSignature | undefined;
    if (
      !onnx || typeof onnx.file !== "string" || typeof onnx.input !== "string" ||
      typeof onnx.output !== "string"
    ) {
      fail(where, "`onnx` must name `file`, `input` and `output`");
    }
  }
  return m as unknown as ModelManifest;
}
