/**
 * Hot reload with the folder source: `POST /v1/models/refresh` re-reads MODELS_DIR, swaps a
 * valid new default in, refuses a broken bundle (the serving model keeps serving), and only the
 * admin may ask.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModelReloader } from "../../src/model/model_reloader.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { createService } from "../../src/service.ts";
import { ADMIN_HEADERS, capturingLogger, FIXTURE_MODELS_DIR, TEST_CONFIG } from "./_fixtures.ts";

const refresh = (
  app: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  headers: HeadersInit = ADMIN_HEADERS,
) => app.request("/v1/models/refresh", { method: "POST", headers });

async function metric(
  app: { request: (path: string) => Response | Promise<Response> },
  line: RegExp,
) {
  const text = await (await app.request("/metrics")).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found === undefined ? undefined : Number(found.split(" ").at(-1));
}

/** A copy of tiny-xgb under another version name (and optionally a broken manifest). */
async function addBundle(
  dir: string,
  version: string,
  edit: (m: Record<string, unknown>) => void = () => {},
) {
  await cp(join(FIXTURE_MODELS_DIR, "tiny-xgb"), join(dir, version), { recursive: true });
  const path = join(dir, version, "manifest.json");
  const manifest = JSON.parse(await readFile(path, "utf8"));
  manifest.version = version;
  edit(manifest);
  await writeFile(path, JSON.stringify(manifest));
}

Deno.test("folder source: refresh re-reads MODELS_DIR, swaps, refuses broken bundles", async () => {
  const dir = await mkdtemp(join(tmpdir(), "model-refresh-"));
  const logger = capturingLogger();
  const service = await createService({ ...TEST_CONFIG, modelsDir: dir }, { logger });
  try {
    const { app } = service;
    assert.equal(service.router.models.defaultVersion, "heuristic-v1");

    assert.equal((await refresh(app, {})).status, 401);
    const unchanged = await refresh(app);
    assert.equal(unchanged.status, 200);
    assert.equal((await unchanged.json()).outcome, "unchanged");

    await addBundle(dir, "tiny-b");
    await writeFile(join(dir, "DEFAULT"), "tiny-b\n");
    const swapped = await (await refresh(app)).json();
    assert.deepEqual(
      [swapped.outcome, swapped.previousVersion, swapped.servingVersion],
      ["swapped", "heuristic-v1", "tiny-b"],
    );
    const routed = await app.request("/v1/route", {
      method: "POST",
      body: JSON.stringify({ sqlText: "SELECT count(*) FROM t" }),
    });
    assert.equal((await routed.json()).modelVersion, "tiny-b");
    assert.equal(await metric(app, /^trino_router_model_serving\{model_version="tiny-b"\}/), 1);
    assert.equal(
      await metric(app, /^trino_router_model_serving\{model_version="heuristic-v1"\}/),
      undefined,
    );

    // A bundle whose manifest lies about its features: the whole refresh is refused.
    await addBundle(dir, "tiny-broken", (m) => (m.features as string[]).reverse());
    await writeFile(join(dir, "DEFAULT"), "tiny-broken\n");
    const refused = await refresh(app);
    assert.equal(refused.status, 422);
    const body = await refused.json();
    assert.equal(body.outcome, "refused");
    assert.match(body.error, /tiny-broken: feature 0/);
    assert.equal(service.router.models.defaultVersion, "tiny-b");
    assert.equal(await metric(app, /^trino_router_model_refresh_total\{outcome="refused"\}/), 1);
    assert.equal(await metric(app, /^trino_router_model_refresh_total\{outcome="swapped"\}/), 1);
    assert.ok(logger.lines.some((l) => l.includes("model refresh refused")));

    // A DEFAULT naming a version that is not there is refused the same way.
    await rm(join(dir, "tiny-broken"), { recursive: true });
    await writeFile(join(dir, "DEFAULT"), "no-such-version\n");
    assert.equal((await refresh(app)).status, 422);
    assert.equal(service.router.models.defaultVersion, "tiny-b");
  } finally {
    await service.close();
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("refresh is disabled without an admin token", async () => {
  const service = await createService({ ...TEST_CONFIG, adminToken: undefined }, {
    logger: capturingLogger(),
  });
  try {
    const response = await refresh(service.app);
    assert.equal(response.status, 403);
    assert.match((await response.json()).error, /ROUTER_ADMIN_TOKEN/);
  } finally {
    await service.close();
  }
});

Deno.test("concurrent refreshes share one load; a swap never closes a model mid-request", async () => {
  const dir = await mkdtemp(join(tmpdir(), "model-refresh-"));
  await addBundle(dir, "tiny-a");
  let loads = 0;
  const folder = directoryModelSource(dir);
  const source = { ...folder, load: () => (loads++, folder.load()) };
  const reloader = await createModelReloader({ source, drainMs: 60_000 });
  try {
    const held = reloader.models.get();
    assert.equal(held.manifest.version, "tiny-a");
    await addBundle(dir, "tiny-c");
    await writeFile(join(dir, "DEFAULT"), "tiny-c\n");
    const [a, b] = await Promise.all([reloader.refresh("api"), reloader.refresh("poll")]);
    assert.equal(a, b);
    assert.equal(a.outcome, "swapped");
    assert.equal(loads, 2, "one load at start, one for both refreshes");
    // A request that picked the old model before the swap still scores with it a while later
    // (the replaced set stays open for `drainMs`; close() below ends that early).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [score] = await held.scorer.score([held.featurize({ sqlText: "SELECT 1" }).vector]);
    assert.ok(score >= 0 && score <= 1);
    assert.equal(reloader.models.defaultVersion, "tiny-c");
  } finally {
    await reloader.close();
    await rm(dir, { recursive: true, force: true });
  }
});
