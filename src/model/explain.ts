/**
 * "Why did my query go to Large?": the features that pushed one decision's score, from the
 * tree-path contributions of the bundle's own tree ensemble (`tree_ensemble.ts`). Served by
 * `POST /v1/route?explain=true` and, for ext_authz, the `x-trino-router-explain` debug header.
 *
 * @module
 */

import {
  nodeMeans,
  pathContributions,
  readTreeEnsemble,
  type TreeEnsemble,
  TreeEnsembleError,
} from "./tree_ensemble.ts";

/** One feature's share of a decision. */
export interface FeatureContribution {
  /** The feature's name. */
  readonly feature: string;
  /** The feature's value in the query's vector. */
  readonly value: number;
  /** Its contribution to the margin (log-odds of heavy); positive pushes toward Large. */
  readonly contribution: number;
}

/** The explanation of one scored vector. */
export interface Explanation {
  /** Margin every query starts from (base score plus the trees' root means). */
  readonly bias: number;
  /** Largest contributions by absolute value, largest first. */
  readonly top: readonly FeatureContribution[];
}

/** Explains one vector of the model's layout. */
export type Explainer = (vector: Float32Array, top?: number) => Explanation;

/** Number of features an explanation lists unless asked otherwise. */
export const DEFAULT_TOP_FEATURES = 8;

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Builds the explainer of an ONNX bundle from its graph and its `covers` file (JSON
 * `{"covers": number[][]}`, written by `training/train.py`). Throws when either cannot be read:
 * a bundle that promises explanations and cannot give them is broken.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createExplainer } from "./explain.ts";
 * import { readTreeEnsemble } from "./tree_ensemble.ts";
 * const dir = new URL("../../test/fixtures/models/tiny-xgb/", import.meta.url);
 * const onnx = await Deno.readFile(new URL("model.onnx", dir));
 * const { features } = JSON.parse(await Deno.readTextFile(new URL("manifest.json", dir)));
 * // The fixture has no covers file: equal covers weigh both children of a split alike.
 * const covers = readTreeEnsemble(onnx).trees.map((t) => Array(t.mode.length).fill(1));
 * const explain = createExplainer(features, onnx, new TextEncoder().encode(JSON.stringify({ covers })));
 * const vector = new Float32Array(features.length);
 * vector[features.indexOf("sql_length")] = 5000; // the fixture is heavy past 2,500 characters
 * const { top } = explain(vector, 3);
 * assert.equal(top[0].feature, "sql_length");
 * assert.ok(top[0].contribution > 0, "pushes toward Large");
 * ```
 */
export function createExplainer(
  features: readonly string[],
  onnxBytes: Uint8Array,
  coversBytes: Uint8Array,
): Explainer {
  let ensemble: TreeEnsemble;
  let covers: number[][];
  try {
    ensemble = readTreeEnsemble(onnxBytes);
    covers = (JSON.parse(new TextDecoder().decode(coversBytes)) as { covers: number[][] }).covers;
  } catch (error) {
    throw new TreeEnsembleError(`cannot build the explainer: ${(error as Error).message}`);
  }
  const means = nodeMeans(ensemble, covers);
  return (vector, top = DEFAULT_TOP_FEATURES) => {
    const contributions = pathContributions(ensemble, means, vector);
    const order = features.map((_, i) => i)
      .filter((i) => contributions[i] !== 0)
      .sort((a, b) => Math.abs(contributions[b]) - Math.abs(contributions[a]) || a - b)
      .slice(0, Math.max(0, Math.min(top, features.length)));
    return {
      bias: round(contributions[features.length]),
      top: order.map((i) => ({
        feature: features[i],
        value: vector[i],
        contribution: round(contributions[i]),
      })),
    };
  };
}
