/**
 * Knowing when the model does not know: a query outside what the model was trained on (a table
 * the bundle's catalog has never seen, or a feature beyond the range of every training row) is
 * unfamiliar, and goes to Large with its own reason instead of trusting an extrapolated score.
 * The rule is learned at training (`training/train.py`) and carried by the bundle's manifest, so
 * every replica applies the same rule to the same vector.
 *
 * @module
 */

/** The learned rule: per feature, the range seen on the training rows. */
export interface NoveltyRule {
  /** Feature names (each must be in the manifest's feature list). */
  readonly features: readonly string[];
  /** Smallest training value per feature. */
  readonly min: readonly number[];
  /** Largest training value per feature; `tables_unknown` is pinned to 0 (any unknown table). */
  readonly max: readonly number[];
}

/** Says why a vector is unfamiliar (e.g. `kw_join=14>9`), or `undefined` when it is familiar. */
export type NoveltyCheck = (vector: Float32Array) => string | undefined;

/**
 * Checks the shape of a manifest's `novelty` against its feature list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { noveltyRuleProblem } from "./novelty.ts";
 * assert.equal(noveltyRuleProblem({ features: ["a"], min: [0], max: [1] }, ["a"]), undefined);
 * assert.match(noveltyRuleProblem({ features: ["b"], min: [0], max: [1] }, ["a"])!, /unknown/);
 * ```
 */
export function noveltyRuleProblem(rule: unknown, names: readonly string[]): string | undefined {
  const r = rule as Partial<NoveltyRule> | undefined;
  if (!r || typeof r !== "object") return "novelty must be an object";
  if (!Array.isArray(r.features) || !Array.isArray(r.min) || !Array.isArray(r.max)) {
    return "novelty needs `features`, `min` and `max` arrays";
  }
  if (r.min.length !== r.features.length || r.max.length !== r.features.length) {
    return "novelty arrays differ in length";
  }
  const known = new Set(names);
  const unknown = r.features.find((f) => typeof f !== "string" || !known.has(f));
  if (unknown !== undefined) return `novelty names unknown feature ${JSON.stringify(unknown)}`;
  const finite = (a: unknown[]) => a.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!finite(r.min) || !finite(r.max)) return "novelty ranges must be finite numbers";
  return undefined;
}

/**
 * Compiles a rule against a feature layout. Values are compared as the float32 the model reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createNoveltyCheck } from "./novelty.ts";
 * const check = createNoveltyCheck({ features: ["kw_join"], min: [0], max: [9] }, ["x", "kw_join"]);
 * assert.equal(check(new Float32Array([5, 3])), undefined);
 * assert.equal(check(new Float32Array([5, 14])), "kw_join=14>9");
 * ```
 */
export function createNoveltyCheck(rule: NoveltyRule, names: readonly string[]): NoveltyCheck {
  const index = rule.features.map((f) => names.indexOf(f));
  const min = Float32Array.from(rule.min);
  const max = Float32Array.from(rule.max);
  return (vector) => {
    for (let k = 0; k < index.length; k++) {
      const v = vector[index[k]];
      if (v > max[k]) return `${rule.features[k]}=${v}>${max[k]}`;
      if (v < min[k]) return `${rule.features[k]}=${v}<${min[k]}`;
    }
    return undefined;
  };
}
