/**
 * Seals a model bundle: writes the manifest's `integrity` section (SHA-256 of every bundle file,
 * and parity samples: feature vectors of representative queries with the score this model gives
 * them), which the router checks at load (`src/model/bundle_integrity.ts`) and refuses the bundle
 * on any mismatch. Run it last, after every other file of the bundle is written; the training
 * pipeline (`training/train.ts`) does.
 *
 * ```sh
 * deno run -A training/bundle_integrity.ts models/my-model
 * ```
 *
 * @module
 */

import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createFeaturizer, type QueryInput } from "../src/features/featurizer.ts";
import {
  type BundleIntegrity,
  integrityOf,
  type ParitySample,
  sha256Hex,
  verifyFileDigests,
  verifyParity,
} from "../src/model/bundle_integrity.ts";
import { createHeuristicScorer } from "../src/model/heuristic.ts";
import { validateManifest } from "../src/model/manifest.ts";
import { createOnnxScorer } from "../src/model/onnx_scorer.ts";

/**
 * Queries whose feature vectors become the parity samples: short and long, few and many joins,
 * qualified and unqualified tables, aggregates, a write, so that the samples reach many leaves of
 * any tree model. Only their vectors (never the SQL) go into the manifest.
 */
export const PARITY_QUERIES: readonly QueryInput[] = [
  { sqlText: "SELECT 1" },
  { sqlText: "SELECT * FROM nation", user: "analyst", catalog: "tpch", schema: "tiny" },
  {
    sqlText: "SELECT l_returnflag, sum(l_quantity) FROM tpch.sf1.lineitem GROUP BY 1 ORDER BY 1",
    user: "etl",
    source: "tableau",
  },
  {
    sqlText: "SELECT * FROM orders o JOIN lineitem l ON o.o_orderkey = l.l_orderkey " +
      "JOIN customer c ON c.c_custkey = o.o_custkey JOIN nation n ON n.n_nationkey = c.c_nationkey",
    catalog: "tpch",
    schema: "sf1",
  },
  {
    sqlText: "SELECT count(*) FROM lineitem CROSS JOIN orders WHERE l_shipdate > DATE '2025-01-01'",
    catalog: "tpch",
    schema: "sf10",
  },
  { sqlText: `SELECT * FROM t WHERE id IN (${Array.from({ length: 400 }, (_, i) => i)})` },
  {
    sqlText: "WITH a AS (SELECT o_custkey, count(*) c FROM orders GROUP BY 1) " +
      "SELECT max(c), approx_distinct(o_custkey) FROM a",
    catalog: "tpch",
    schema: "sf100",
    clientTags: ["nightly"],
  },
  { sqlText: "INSERT INTO memory.default.t SELECT * FROM tpch.tiny.nation" },
];

/**
 * Computes and writes the `integrity` section of the bundle in `bundleDir`, then checks it the
 * way the router will. Returns the section.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cp } from "node:fs/promises";
 * import { sealBundle } from "./bundle_integrity.ts";
 * const bundle = await Deno.makeTempDir();
 * const fixture = new URL("../test/fixtures/models/tiny-xgb", import.meta.url).pathname;
 * await cp(fixture, bundle, { recursive: true });
 * const integrity = await sealBundle(bundle);
 * assert.deepEqual(Object.keys(integrity.files), ["model.onnx"]);
 * await Deno.remove(bundle, { recursive: true });
 * ```
 */
export async function sealBundle(
  bundleDir: string,
  queries: readonly QueryInput[] = PARITY_QUERIES,
): Promise<BundleIntegrity> {
  const manifestPath = join(bundleDir, "manifest.json");
  const json = JSON.parse(await readFile(manifestPath, "utf8"));
  const { integrity: _old, ...unsealed } = json;
  const manifest = validateManifest(unsealed, bundleDir);

  const files = new Map<string, Uint8Array>();
  const entries = await readdir(bundleDir, { withFileTypes: true });
  for (const entry of entries.filter((e) => e.isFile() && e.name !== "manifest.json")) {
    files.set(entry.name, new Uint8Array(await readFile(join(bundleDir, entry.name))));
  }
  if (manifest.onnx && !files.has(manifest.onnx.file)) {
    // A model file outside the folder is still checksummed, under the name the manifest uses.
    files.set(
      manifest.onnx.file,
      new Uint8Array(await readFile(join(bundleDir, manifest.onnx.file))),
    );
  }
  const digests = Object.fromEntries(
    [...files].sort(([a], [b]) => a < b ? -1 : 1).map(([name, bytes]) => [name, sha256Hex(bytes)]),
  );

  const featurize = createFeaturizer(manifest.featureSpec);
  const vectors = queries.map((query) => featurize(query).vector);
  const scorer = manifest.kind === "onnx"
    ? await createOnnxScorer(files.get(manifest.onnx!.file)!, manifest.onnx!)
    : createHeuristicScorer();
  try {
    const scores = await scorer.score(vectors);
    const parity: ParitySample[] = vectors.map((vector, i) => ({
      vector: Array.from(vector),
      score: scores[i],
    }));
    const integrity: BundleIntegrity = { files: digests, parity };
    const sealed = { ...unsealed, integrity };
    // The router's own checks, before the file is written.
    const checked = integrityOf(validateManifest(sealed, bundleDir), bundleDir)!;
    verifyFileDigests(checked, files, bundleDir);
    await verifyParity(checked, scorer, bundleDir);
    await writeFile(manifestPath, compactNumberArrays(JSON.stringify(sealed, null, 1)) + "\n");
    return integrity;
  } finally {
    await scorer.close();
  }
}

/** Puts each array of numbers on one line: a parity vector is hundreds of numbers. */
function compactNumberArrays(json: string): string {
  return json.replace(
    /\[(\s*-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*\s*)\]/g,
    (_, inner: string) => `[${inner.replace(/\s+/g, "")}]`,
  );
}

if (import.meta.main) {
  const dirs = Deno.args;
  if (dirs.length === 0) {
    console.error("usage: deno run -A training/bundle_integrity.ts <bundle folder>...");
    Deno.exit(2);
  }
  for (const dir of dirs) {
    const integrity = await sealBundle(dir);
    console.log(
      `${dir}: sealed ${Object.keys(integrity.files).length} files, ` +
        `${integrity.parity.length} parity samples`,
    );
  }
}
