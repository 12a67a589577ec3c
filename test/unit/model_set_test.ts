import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFeaturizer } from "../../src/features/featurizer.ts";
import { HEURISTIC_VERSION } from "../../src/model/heuristic.ts";
import { ManifestError } from "../../src/model/manifest.ts";
import { integrityOf, sha256Hex } from "../../src/model/bundle_integrity.ts";
import { directoryModelSource, httpModelSource } from "../../src/model/model_source.ts";
import { loadModelSet, UnknownModelVersionError } from "../../src/model/model_set.ts";
import { FIXTURE_MODELS_DIR, TEST_CONFIG } from "./_fixtures.ts";
import { createService } from "../../src/service.ts";

Deno.test("a models folder loads every bundle next to the built-in heuristic", async () => {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  assert.deepEqual([...models.versions].sort(), [HEURISTIC_VERSION, "tiny-xgb"]);
  assert.equal(models.defaultVersion, "tiny-xgb");
  await models.close();
});

Deno.test("the ONNX model scores in Deno through onnxruntime-web and separates the classes", async () => {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  const model = models.get("tiny-xgb");
  const light = model.featurize({ sqlText: "SELECT 1" }).vector;
  const heavy = model.featurize({ sqlText: "SELECT '" + "x".repeat(3000) + "'" }).vector;
  const [lightScore, heavyScore] = await model.scorer.score([light, heavy]);
  assert.ok(lightScore < 0.5 && heavyScore > 0.5, `${lightScore} ${heavyScore}`);
  const again = await model.scorer.score([light, heavy]);
  assert.deepEqual(again, Float32Array.from([lightScore, heavyScore]), "scores are deterministic");
  await models.close();
});

Deno.test("concurrent scoring calls on one session all resolve correctly", async () => {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  const model = models.get("tiny-xgb");
  const vector = model.featurize({ sqlText: "SELECT 1" }).vector;
  const scores = await Promise.all(Array.from({ length: 50 }, () => model.scorer.score([vector])));
  assert.equal(new Set(scores.map((s) => s[0])).size, 1);
  await models.close();
});

Deno.test("an unknown version is refused with the list of loaded versions", async () => {
  const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
  assert.throws(() => models.get("v9.9.9"), (e: unknown) => {
    assert.ok(e instanceof UnknownModelVersionError);
    assert.match(e.message, /tiny-xgb/);
    assert.match(e.message, /heuristic-v1/);
    return true;
  });
  await models.close();
});

Deno.test("the DEFAULT pointer file chooses the default version", async () => {
  const dir = await mkdtemp(join(tmpdir(), "models-"));
  await cp(FIXTURE_MODELS_DIR, dir, { recursive: true });
  await writeFile(join(dir, "DEFAULT"), `${HEURISTIC_VERSION}\n`);
  const models = await loadModelSet(directoryModelSource(dir));
  assert.equal(models.defaultVersion, HEURISTIC_VERSION);
  await models.close();
});

Deno.test("a bundle whose manifest schema does not match the featurizer is refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "models-"));
  await cp(FIXTURE_MODELS_DIR, dir, { recursive: true });
  const path = join(dir, "tiny-xgb", "manifest.json");
  const manifest = JSON.parse(await readFile(path, "utf8"));
  await writeFile(path, JSON.stringify({ ...manifest, featureSchemaVersion: 0 }));
  await assert.rejects(loadModelSet(directoryModelSource(dir)), (e: unknown) => {
    assert.ok(e instanceof ManifestError);
    assert.match(e.message, /feature schema version 0 does not match/);
    return true;
  });
});

Deno.test("a bundle whose feature list differs from the featurizer's is refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "models-"));
  await cp(FIXTURE_MODELS_DIR, dir, { recursive: true });
  const path = join(dir, "tiny-xgb", "manifest.json");
  const manifest = JSON.parse(await readFile(path, "utf8"));
  manifest.features[1] = "renamed_feature";
  await writeFile(path, JSON.stringify(manifest));
  await assert.rejects(loadModelSet(directoryModelSource(dir)), /feature 1 is "renamed_feature"/);
});

Deno.test("the HTTP registry source loads the same bundles as the folder", async () => {
  const files: Record<string, BodyInit> = {
    "/index.json": JSON.stringify({ versions: ["tiny-xgb"], default: "tiny-xgb" }),
    "/tiny-xgb/manifest.json": await readFile(
      join(FIXTURE_MODELS_DIR, "tiny-xgb", "manifest.json"),
      "utf8",
    ),
    "/tiny-xgb/model.onnx": new Uint8Array(
      await readFile(join(FIXTURE_MODELS_DIR, "tiny-xgb", "model.onnx")),
    ),
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const body = files[new URL(request.url).pathname];
    return body === undefined ? new Response("missing", { status: 404 }) : new Response(body);
  });
  try {
    const models = await loadModelSet(httpModelSource(`http://127.0.0.1:${server.addr.port}/`));
    assert.equal(models.defaultVersion, "tiny-xgb");
    const fromFolder = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
    const input = { sqlText: "SELECT * FROM a JOIN b ON true", user: "etl" };
    const vector = createFeaturizer(models.get().manifest.featureSpec)(input).vector;
    assert.deepEqual(
      await models.get().scorer.score([vector]),
      await fromFolder.get().scorer.score([vector]),
    );
    await models.close();
    await fromFolder.close();
  } finally {
    await server.shutdown();
  }
});

/** A copy of the fixture models folder to tamper with. */
async function fixtureCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "models-"));
  await cp(FIXTURE_MODELS_DIR, dir, { recursive: true });
  return dir;
}

const FLIPPED = new URL("../fixtures/corrupt/tiny-xgb-leaves-flipped.onnx", import.meta.url);

Deno.test("a model file with every leaf sign flipped is refused by its checksum", async () => {
  const dir = await fixtureCopy();
  await cp(FLIPPED, join(dir, "tiny-xgb", "model.onnx"));
  await assert.rejects(
    () => loadModelSet(directoryModelSource(dir)),
    (e: Error) => e.name === "BundleIntegrityError" && /model\.onnx" has SHA-256/.test(e.message),
  );
});

Deno.test("...and by its parity samples when the attacker fixed the checksum too", async () => {
  const dir = await fixtureCopy();
  const flipped = new Uint8Array(await readFile(FLIPPED));
  await writeFile(join(dir, "tiny-xgb", "model.onnx"), flipped);
  const path = join(dir, "tiny-xgb", "manifest.json");
  const manifest = JSON.parse(await readFile(path, "utf8"));
  manifest.integrity.files["model.onnx"] = sha256Hex(flipped);
  await writeFile(path, JSON.stringify(manifest));
  await assert.rejects(
    () => loadModelSet(directoryModelSource(dir)),
    (e: Error) => e.name === "BundleIntegrityError" && /parity sample \d+ scores/.test(e.message),
  );
  // The flipped model does parse and score: only the checks stand between it and traffic.
  delete manifest.integrity;
  await writeFile(path, JSON.stringify(manifest));
  await assert.rejects(() => loadModelSet(directoryModelSource(dir)), /no `integrity` section/);
});

Deno.test("a sealed bundle loads and serves", async () => {
  const source = directoryModelSource(FIXTURE_MODELS_DIR);
  const { bundles } = await source.load();
  const tiny = bundles.find((b) => b.manifest.version === "tiny-xgb")!;
  const integrity = integrityOf(tiny.manifest, "tiny");
  assert.ok(integrity, "the fixture is sealed");
  const models = await loadModelSet(source);
  try {
    const [score] = await models.get("tiny-xgb").scorer.score([
      Float32Array.from(integrity.parity[0].vector),
    ]);
    assert.ok(Math.abs(score - integrity.parity[0].score) <= 1e-5);
  } finally {
    await models.close();
  }
});

Deno.test("an unreadable models folder or DEFAULT pointer fails loudly, unless the heuristic was asked for", async () => {
  const missing = join(tmpdir(), `no-such-models-${crypto.randomUUID()}`);
  await assert.rejects(
    () => loadModelSet(directoryModelSource(missing)),
    (e: Error) => e.name === "ModelSourceError" && /cannot read models folder/.test(e.message),
  );
  const explicit = await loadModelSet(directoryModelSource(missing), HEURISTIC_VERSION);
  assert.equal(explicit.defaultVersion, HEURISTIC_VERSION);
  await explicit.close();
  // A DEFAULT that exists but cannot be read (here: a folder) is no silent "no default".
  const dir = await fixtureCopy();
  await Deno.mkdir(join(dir, "DEFAULT"));
  await assert.rejects(
    () => loadModelSet(directoryModelSource(dir)),
    (e: Error) => e.name === "ModelSourceError" && /DEFAULT/.test(e.message),
  );
  // So is a manifest that exists but cannot be read.
  const other = await fixtureCopy();
  await Deno.remove(join(other, "tiny-xgb", "manifest.json"));
  await Deno.mkdir(join(other, "tiny-xgb", "manifest.json"));
  await assert.rejects(() => loadModelSet(directoryModelSource(other)), /cannot read/);
});

Deno.test("the service refuses to start on an unreadable models folder unless the heuristic was asked for", async () => {
  const missing = join(tmpdir(), `no-such-models-${crypto.randomUUID()}`);
  const quiet = { info() {}, warn() {}, error() {} };
  await assert.rejects(
    () => createService({ ...TEST_CONFIG, modelsDir: missing }, { logger: quiet }),
    /cannot read models folder/,
  );
  const service = await createService(
    { ...TEST_CONFIG, modelsDir: missing, defaultModelVersion: HEURISTIC_VERSION },
    { logger: quiet },
  );
  try {
    assert.equal(service.router.models.defaultVersion, HEURISTIC_VERSION);
  } finally {
    await service.close();
  }
});
