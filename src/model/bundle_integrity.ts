/**
 * Integrity of a model bundle, checked before it may serve: the manifest's `integrity` section
 * lists the SHA-256 of each bundle file and parity samples (feature vectors with the score the
 * model gave them when the bundle was sealed). A file that still parses but was altered (say,
 * every leaf's sign flipped) fails one or the other and the bundle is refused.
 *
 * Bundles are sealed by `training/bundle_integrity.ts` (`sealBundle`); every load, hot reload
 * included, checks them with {@linkcode verifyFileDigests} and {@linkcode verifyParity}
 * (`model_set.ts`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { ModelManifest } from "./manifest.ts";
import type { Scorer } from "./scorer.ts";

/** The manifest's `integrity` section. */
export interface BundleIntegrity {
  /** File name (relative to the bundle folder) → lower-case hex SHA-256 of its bytes. */
  readonly files: Readonly<Record<string, string>>;
  /** Inputs with the score the sealed model gave them. */
  readonly parity: readonly ParitySample[];
}

/** One parity sample: a feature vector in the manifest's feature order and its score. */
export interface ParitySample {
  readonly vector: readonly number[];
  readonly score: number;
}

/**
 * Largest accepted difference between a parity sample's sealed and recomputed score. Both come
 * from the same runtime (onnxruntime-web), so anything beyond float noise is another model.
 */
export const PARITY_SAMPLE_TOLERANCE = 1e-5;

/** A bundle that fails its integrity checks; the message names the bundle and the check. */
export class BundleIntegrityError extends Error {
  override name = "BundleIntegrityError";
}

/**
 * Lower-case hex SHA-256 of some bytes, as the manifest lists them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Hex } from "./bundle_integrity.ts";
 * assert.equal(sha256Hex(new Uint8Array()).slice(0, 8), "e3b0c442");
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * The manifest's integrity section, validated for shape; a bundle without one is refused for
 * ONNX models (an unsealed or stripped bundle cannot prove what it is).
 */
export function integrityOf(manifest: ModelManifest, where: string): BundleIntegrity | undefined {
  const raw = (manifest as { integrity?: unknown }).integrity;
  if (raw === undefined) {
    if (manifest.kind === "onnx") {
      throw new BundleIntegrityError(
        `${where}: manifest has no \`integrity\` section (file checksums and parity samples); ` +
          "seal the bundle with training/bundle_integrity.ts",
      );
    }
    return undefined;
  }
  const integrity = raw as BundleIntegrity;
  const hex = /^[0-9a-f]{64}$/;
  if (
    typeof integrity !== "object" || integrity === null || typeof integrity.files !== "object" ||
    integrity.files === null ||
    !Object.values(integrity.files).every((digest) =>
      typeof digest === "string" && hex.test(digest)
    )
  ) {
    throw new BundleIntegrityError(`${where}: integrity.files must map file names to SHA-256 hex`);
  }
  const width = manifest.features.length;
  if (
    !Array.isArray(integrity.parity) || integrity.parity.length === 0 ||
    !integrity.parity.every((s) =>
      Array.isArray(s?.vector) && s.vector.length === width &&
      s.vector.every(Number.isFinite) && Number.isFinite(s.score)
    )
  ) {
    throw new BundleIntegrityError(
      `${where}: integrity.parity must hold samples of ${width} finite features and a score`,
    );
  }
  if (manifest.onnx && integrity.files[manifest.onnx.file] === undefined) {
    throw new BundleIntegrityError(
      `${where}: integrity.files does not list the model file "${manifest.onnx.file}"`,
    );
  }
  return integrity;
}

/**
 * Checks every listed file's bytes against its checksum. `files` holds the bytes the loader
 * read, by the names the manifest lists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Hex, verifyFileDigests } from "./bundle_integrity.ts";
 * const bytes = new TextEncoder().encode("model");
 * const integrity = { files: { "model.onnx": sha256Hex(bytes) }, parity: [] };
 * verifyFileDigests(integrity, new Map([["model.onnx", bytes]]), "models/v1");
 * assert.throws(() =>
 *   verifyFileDigests(integrity, new Map([["model.onnx", new Uint8Array(5)]]), "models/v1")
 * );
 * ```
 */
export function verifyFileDigests(
  integrity: BundleIntegrity,
  files: ReadonlyMap<string, Uint8Array>,
  where: string,
): void {
  for (const [name, expected] of Object.entries(integrity.files)) {
    const bytes = files.get(name);
    if (bytes === undefined) {
      throw new BundleIntegrityError(`${where}: listed file "${name}" is missing`);
    }
    const actual = sha256Hex(bytes);
    if (actual !== expected) {
      throw new BundleIntegrityError(
        `${where}: "${name}" has SHA-256 ${actual}, the manifest says ${expected}`,
      );
    }
  }
}

/**
 * Scores the parity samples with `scorer` (built from the bundle's own model file) and refuses
 * the bundle when any score moved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BundleIntegrityError, integrityOf, verifyParity } from "./bundle_integrity.ts";
 * import { readBundleFolder } from "./model_source.ts";
 * import { createOnnxScorer } from "./onnx_scorer.ts";
 * const folder = new URL("../../test/fixtures/models/tiny-xgb", import.meta.url).pathname;
 * const { manifest, onnxBytes } = (await readBundleFolder(folder))!;
 * const integrity = integrityOf(manifest, folder)!;
 * const scorer = await createOnnxScorer(onnxBytes!, manifest.onnx!);
 * await verifyParity(integrity, scorer, folder);
 * const moved = { ...integrity, parity: [{ ...integrity.parity[0], score: 2 }] };
 * await assert.rejects(verifyParity(moved, scorer, folder), BundleIntegrityError);
 * await scorer.close();
 * ```
 */
export async function verifyParity(
  integrity: BundleIntegrity,
  scorer: Scorer,
  where: string,
): Promise<void> {
  const scores = await scorer.score(integrity.parity.map((s) => Float32Array.from(s.vector)));
  integrity.parity.forEach((sample, i) => {
    const diff = Math.abs(scores[i] - sample.score);
    if (!(diff <= PARITY_SAMPLE_TOLERANCE)) {
      throw new BundleIntegrityError(
        `${where}: parity sample ${i} scores ${scores[i]}, sealed as ${sample.score} ` +
          `(tolerance ${PARITY_SAMPLE_TOLERANCE}): the model is not the one that was sealed`,
      );
    }
  });
}
