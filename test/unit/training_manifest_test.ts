import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FEATURE_SCHEMA_VERSION,
  featureNames,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import { ManifestError, validateManifest } from "../../src/model/manifest.ts";
import { loadModelSet } from "../../src/model/model_set.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";

const manifest = (featureSchemaVersion: number) => ({
  version: "schema-check",
  kind: "heuristic",
  featureSchemaVersion,
  featureSpec: FIXED_ONLY_SPEC,
  features: featureNames(FIXED_ONLY_SPEC),
  threshold: 0.5,
});

Deno.test("a manifest with another feature schema version is refused with a retrain hint", () => {
  assert.doesNotThrow(() => validateManifest(manifest(FEATURE_SCHEMA_VERSION), "ok"));
  assert.throws(
    () => validateManifest(manifest(FEATURE_SCHEMA_VERSION + 1), "models/schema-check"),
    (e) => e instanceof ManifestError && /schema version .* retrain/.test(e.message),
  );
});

Deno.test("the service refuses to load a models folder holding a bundle of another schema", async () => {
  const dir = await mkdtemp(join(tmpdir(), "training-schema-"));
  try {
    await mkdir(join(dir, "schema-check"));
    await writeFile(
      join(dir, "schema-check", "manifest.json"),
      JSON.stringify(manifest(FEATURE_SCHEMA_VERSION - 1)),
    );
    await assert.rejects(loadModelSet(directoryModelSource(dir)), ManifestError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
