/**
 * The checks a freshly loaded model set must pass before it may serve: every version scores a
 * probe query to a probability. Readiness (`GET /readyz`) asks the same probe of the default.
 *
 * @module
 */

import type { QueryInput } from "../features/featurizer.ts";
import type { ModelSet } from "./model_set.ts";

/** A query every model can score: the readiness probe and the reload check both send it. */
export const PROBE_QUERY: QueryInput & { readonly queryId: string } = {
  sqlText: "SELECT 1",
  queryId: "readiness_probe",
};

/** A loaded model set that must not serve, with the version and the reason in the message. */
export class ModelCheckError extends Error {
  override name = "ModelCheckError";
}

/**
 * Featurizes and scores the probe query with every version of `models`; throws
 * {@linkcode ModelCheckError} when a version's vector has the wrong width or its score is not
 * a probability.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkModelSet } from "./model_check.ts";
 * import { modelSetFromBundles } from "./model_set.ts";
 * const models = await modelSetFromBundles([]);
 * await checkModelSet(models);
 * await models.close();
 * assert.equal(models.defaultVersion, "heuristic-v1");
 * ```
 */
export async function checkModelSet(models: ModelSet): Promise<void> {
  for (const version of models.versions) {
    const model = models.get(version);
    const features = model.featurize(PROBE_QUERY);
    if (features.vector.length !== model.manifest.features.length) {
      throw new ModelCheckError(
        `${version}: probe vector has ${features.vector.length} features, the manifest lists ` +
          model.manifest.features.length,
      );
    }
    let score: number;
    try {
      [score] = await model.scorer.score([features.vector]);
    } catch (error) {
      throw new ModelCheckError(
        `${version}: probe query failed to score: ${(error as Error).message}`,
      );
    }
    if (!(score >= 0 && score <= 1)) {
      throw new ModelCheckError(`${version}: probe score ${score} is not a probability`);
    }
  }
}
