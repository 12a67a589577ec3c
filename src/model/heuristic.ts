/**
 * The design document's heuristic baseline, `sql_length > 2000 OR joins > 3`, served as a
 * model version of its own: the floor every trained model is compared with, and the model the
 * service answers with before any trained one exists.
 *
 * @module
 */

import { FEATURE_SCHEMA_VERSION, featureNames, FIXED_ONLY_SPEC } from "../features/featurizer.ts";
import type { ModelManifest } from "./manifest.ts";
import type { Scorer } from "./scorer.ts";

/** Version name of the built-in heuristic model. */
export const HEURISTIC_VERSION = "heuristic-v1";

/** Manifest of the built-in heuristic. */
export const HEURISTIC_MANIFEST: ModelManifest = {
  version: HEURISTIC_VERSION,
  kind: "heuristic",
  featureSchemaVersion: FEATURE_SCHEMA_VERSION,
  featureSpec: FIXED_ONLY_SPEC,
  features: featureNames(FIXED_ONLY_SPEC),
  threshold: 0.5,
  description: "Design baseline: heavy when sql_length > 2000 or the query has more than 3 joins.",
};

/**
 * A scorer giving 1 when `sql_length > 2000` or `kw_join > 3`, else 0. It reads the fixed
 * features, which lead every vector, so it scores vectors of any model's layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeaturizer, FIXED_ONLY_SPEC } from "../features/featurizer.ts";
 * import { createHeuristicScorer } from "./heuristic.ts";
 * const featurize = createFeaturizer(FIXED_ONLY_SPEC);
 * const scores = await createHeuristicScorer().score([featurize({ sqlText: "SELECT 1" }).vector]);
 * assert(scores[0] === 0);
 * ```
 */
export function createHeuristicScorer(): Scorer {
  const names = HEURISTIC_MANIFEST.features;
  const lengthIndex = names.indexOf("sql_length");
  const joinIndex = names.indexOf("kw_join");
  return {
    score(vectors) {
      return Promise.resolve(Float32Array.from(
        vectors,
        (v) => v[lengthIndex] > 2000 || v[joinIndex] > 3 ? 1 : 0,
      ));
    },
    close: () => Promise.resolve(),
  };
}
