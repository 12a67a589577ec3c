/**
 * The set of loaded model versions: each with its own featurizer (its vocabulary) and scorer,
 * one of them the default. Built once at start-up; requests only look versions up.
 *
 * @module
 */

import { createFeaturizer, type Featurizer } from "../features/featurizer.ts";
import { createHeuristicScorer, HEURISTIC_MANIFEST, HEURISTIC_VERSION } from "./heuristic.ts";
import type { ModelManifest } from "./manifest.ts";
import { createNoveltyCheck, type NoveltyCheck } from "./novelty.ts";
import { createExplainer, type Explainer } from "./explain.ts";
import type { ModelBundle, ModelCatalog, ModelSource } from "./model_source.ts";
import { integrityOf, verifyFileDigests, verifyParity } from "./bundle_integrity.ts";
import { createOnnxScorer } from "./onnx_scorer.ts";
import type { Scorer } from "./scorer.ts";

/** One servable model version. */
export interface LoadedModel {
  /** The bundle's manifest. */
  readonly manifest: ModelManifest;
  /** The featurizer fitted for this version. */
  readonly featurize: Featurizer;
  /** Scores featurized vectors (probability of heavy). */
  readonly scorer: Scorer;
  /** The bundle's unfamiliar-query rule, compiled (absent when the bundle has none). */
  readonly novelty?: NoveltyCheck;
  /** Tree-path contributions of a vector (absent for the heuristic and bundles without covers). */
  readonly explain?: Explainer;
}

/** A request named a model version that is not loaded. */
export class UnknownModelVersionError extends Error {
  /** Error name, for logs. */
  override name = "UnknownModelVersionError";
  /** The version asked for. */
  readonly requested: string;
  /** The versions loaded. */
  readonly available: readonly string[];
  /** The message names the requested version and every loaded one. */
  constructor(requested: string, available: readonly string[]) {
    super(`unknown model version "${requested}"; loaded versions: ${available.join(", ")}`);
    this.requested = requested;
    this.available = available;
  }
}

/** The loaded versions and the default one. */
export interface ModelSet {
  /** The version used when a request names none. */
  readonly defaultVersion: string;
  /** Every loaded version. */
  readonly versions: readonly string[];
  /** The named version, or the default when `version` is undefined. */
  get(version?: string): LoadedModel;
  /** Releases the scorers' sessions. */
  close(): Promise<void>;
}

/**
 * Builds a model set from bundles. The built-in heuristic is always loaded, so the service
 * answers even with an empty models folder; it is the default only when nothing else is. Every
 * bundle must pass its integrity checks (`bundle_integrity.ts`: file checksums and parity
 * samples); one that fails refuses the whole set, like an invalid manifest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modelSetFromBundles } from "./model_set.ts";
 * const models = await modelSetFromBundles([]);
 * assert(models.defaultVersion === "heuristic-v1");
 * ```
 */
export async function modelSetFromBundles(
  bundles: readonly ModelBundle[],
  preferredDefault?: string,
): Promise<ModelSet> {
  const loaded = new Map<string, LoadedModel>();
  loaded.set(HEURISTIC_VERSION, {
    manifest: HEURISTIC_MANIFEST,
    featurize: createFeaturizer(HEURISTIC_MANIFEST.featureSpec),
    scorer: createHeuristicScorer(),
  });
  for (const { manifest, onnxBytes, files } of bundles) {
    if (loaded.has(manifest.version)) {
      throw new Error(`model version "${manifest.version}" is defined twice`);
    }
    const where = `model bundle ${manifest.version}`;
    // Checksums before the model file is even parsed; parity once it can score.
    const integrity = integrityOf(manifest, where);
    if (integrity) {
      const bytes = files ??
        new Map(manifest.onnx && onnxBytes ? [[manifest.onnx.file, onnxBytes]] : []);
      verifyFileDigests(integrity, bytes, where);
    }
    const scorer = manifest.kind === "heuristic"
      ? createHeuristicScorer()
      : await createOnnxScorer(onnxBytes ?? new Uint8Array(), manifest.onnx!);
    if (integrity) {
      await verifyParity(integrity, scorer, where).catch(async (error) => {
        await scorer.close();
        throw error;
      });
    }
    loaded.set(manifest.version, {
      manifest,
      featurize: createFeaturizer(manifest.featureSpec),
      scorer,
      novelty: manifest.novelty && createNoveltyCheck(manifest.novelty, manifest.features),
      explain: explainerOf(manifest, onnxBytes, files),
    });
  }
  const versions = [...loaded.keys()];
  const fallbackDefault = bundles.at(-1)?.manifest.version ?? HEURISTIC_VERSION;
  const defaultVersion = preferredDefault ?? fallbackDefault;
  if (!loaded.has(defaultVersion)) throw new UnknownModelVersionError(defaultVersion, versions);
  return {
    defaultVersion,
    versions,
    get(version) {
      const model = loaded.get(version ?? defaultVersion);
      if (!model) throw new UnknownModelVersionError(version!, versions);
      return model;
    },
    async close() {
      await Promise.all([...loaded.values()].map((m) => m.scorer.close()));
    },
  };
}

/**
 * Loads every bundle a source offers into a model set; `defaultVersion` overrides the source's
 * own default pointer. A source that cannot be read fails the load unless `defaultVersion` is
 * the built-in heuristic, which then serves alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directoryModelSource } from "./model_source.ts";
 * import { loadModelSet } from "./model_set.ts";
 * const models = await loadModelSet(directoryModelSource("models"));
 * assert(models.versions.includes("heuristic-v1"));
 * await models.close();
 * ```
 */
export async function loadModelSet(
  source: ModelSource,
  defaultVersion?: string,
): Promise<ModelSet> {
  const catalog = await loadCatalog(source, defaultVersion);
  return modelSetFromBundles(catalog.bundles, defaultVersion ?? catalog.defaultVersion);
}

/**
 * A source's catalog at start-up. A source that cannot be read fails, loudly, unless the operator
 * asked for the built-in heuristic by name (`defaultVersion`), which then serves alone: never a
 * silent fallback.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directoryModelSource } from "./model_source.ts";
 * import { loadCatalog } from "./model_set.ts";
 * const broken = directoryModelSource("/nonexistent-models");
 * await assert.rejects(() => loadCatalog(broken, undefined));
 * assert.deepEqual(await loadCatalog(broken, "heuristic-v1"), { bundles: [] });
 * ```
 */
export async function loadCatalog(
  source: ModelSource,
  defaultVersion: string | undefined,
): Promise<ModelCatalog> {
  try {
    return await source.load();
  } catch (error) {
    if (defaultVersion === HEURISTIC_VERSION) return { bundles: [] };
    throw error;
  }
}

/** The explainer a bundle declares (`explain.covers`), built from its graph and covers file. */
function explainerOf(
  manifest: ModelManifest,
  onnxBytes: Uint8Array | undefined,
  files: ReadonlyMap<string, Uint8Array> | undefined,
): Explainer | undefined {
  const coversFile = manifest.explain?.covers;
  if (coversFile === undefined || manifest.kind !== "onnx" || !onnxBytes) return undefined;
  const covers = files?.get(coversFile);
  if (!covers) {
    throw new Error(`model bundle ${manifest.version}: explain.covers file ${coversFile} missing`);
  }
  return createExplainer(manifest.features, onnxBytes, covers);
}
