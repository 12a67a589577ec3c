/**
 * The model lifecycle against a real MLflow server on loopback: train on the fixture log and
 * register, promote (aliases), a real router serving the `champion` alias, hot reload under
 * steady load, refusal of corrupt bundles, and a restart while MLflow is down.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { DEFAULT_CONFIG } from "../../src/config.ts";
import { FEATURE_SCHEMA_VERSION } from "../../src/features/featurizer.ts";
import { createLogger } from "../../src/log.ts";
import { eventToQueryInput, type QueryCompletedEvent } from "../../src/labels/query_event.ts";
import type { ModelManifest } from "../../src/model/manifest.ts";
import {
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  createMlflowClient,
} from "../../src/model/mlflow_client.ts";
import { createService, type Service } from "../../src/service.ts";
import { logTrainingRun, type MlflowTarget } from "../../training/mlflow_log.ts";
import { promote } from "../../training/promote.ts";
import { train } from "../../training/train.ts";
import { startMlflowServer } from "./_mlflow_server.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;
const POLL_SECONDS = 0.5;

/** A copy of a bundle under a new version, with its manifest edited (and optionally its graph). */
async function variant(
  from: string,
  to: string,
  edit: (m: Record<string, unknown>) => void,
  onnx?: (bytes: Uint8Array) => Uint8Array,
): Promise<ModelManifest> {
  await cp(from, to, { recursive: true });
  const manifest = JSON.parse(await readFile(join(to, "manifest.json"), "utf8"));
  edit(manifest);
  await writeFile(join(to, "manifest.json"), JSON.stringify(manifest));
  if (onnx) await writeFile(join(to, "model.onnx"), onnx(await readFile(join(to, "model.onnx"))));
  return manifest as ModelManifest;
}

async function metricValue(service: Service, pattern: RegExp): Promise<number> {
  const text = await (await service.app.request("/metrics")).text();
  const match = text.split("\n").find((line) => pattern.test(line));
  return match ? Number(match.split(" ").at(-1)) : NaN;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("MLflow registry: train → register → promote → the router serves and hot-reloads it", async (t) => {
  const server = await startMlflowServer();
  const dir = await mkdtemp(join(tmpdir(), "mlflow-registry-"));
  const logLines: string[] = [];
  const services: Service[] = [];
  const httpServers: Deno.HttpServer[] = [];
  try {
    const client = createMlflowClient(server.url);
    const target: MlflowTarget = { client, modelName: "router-test" };
    const models = join(dir, "models");
    const trained = await train({
      log: FIXTURE_LOG,
      out: join(models, "fixture-a"),
      workDir: join(dir, "work"),
      mlflow: target,
    });
    // The default gate everywhere except the first promotion (see there).
    const promoteOptions = { log: FIXTURE_LOG, modelsDir: models, mlflow: target };
    /** The registry versions the two aliases point at. */
    const aliases = async () => ({
      champion: (await client.getModelVersionByAlias("router-test", CHAMPION_ALIAS))?.version,
      challenger: (await client.getModelVersionByAlias("router-test", CHALLENGER_ALIAS))?.version,
    });
    /** Registers a copy of the trained bundle under `version`, edited; returns where it is. */
    const registerVariant = async (
      version: string,
      edit: (m: Record<string, unknown>) => void,
      onnx?: (bytes: Uint8Array) => Uint8Array,
    ) => {
      const bundle = join(models, version);
      const manifest = await variant(trained.bundleDir, bundle, (m) => {
        m.version = version;
        edit(m);
      }, onnx);
      const { registeredVersion } = await logTrainingRun(target, bundle, manifest, {});
      return { bundle, registeredVersion };
    };

    await t.step(
      "training logged params, metrics, the bundle and a registered version",
      async () => {
        assert.equal(trained.registered?.registeredVersion, "1");
        const run = await (await fetch(
          `${server.url}/api/2.0/mlflow/runs/get?run_id=${trained.registered!.runId}`,
        )).json();
        const params = Object.fromEntries(
          run.run.data.params.map((p: { key: string; value: string }) => [p.key, p.value]),
        );
        assert.match(params.data_fingerprint, /^sha256:[0-9a-f]{64}$/);
        assert.equal(params.feature_schema_version, String(FEATURE_SCHEMA_VERSION));
        assert.equal(params.log, FIXTURE_LOG);
        const metrics = new Set(run.run.data.metrics.map((m: { key: string }) => m.key));
        assert.ok(metrics.has("xgboost.recall"), [...metrics].join(","));
        assert.equal(run.run.info.status, "FINISHED");
        const artifacts = await client.listArtifacts(`${run.run.info.artifact_uri}/bundle`);
        const names = artifacts.map((a) => a.path);
        for (const file of ["manifest.json", "model.onnx", "report.md"]) {
          assert.ok(names.includes(file), names.join(","));
        }
      },
    );

    await t.step("promotion passes the gate: aliases champion and challenger", async () => {
      // The registry wiring is under test here, not how well today's featurizer learns the
      // small fixture: the first promotion opens the gate (recall floor 0, no baselines).
      const result = await promote({
        ...promoteOptions,
        challenger: trained.bundleDir,
        champion: "heuristic-v1",
        minRecall: 0,
        baselines: false,
      });
      assert.ok(result.verdict.promote, result.verdict.reasons.join("\n"));
      assert.equal(result.registeredVersion, "1");
      assert.deepEqual(await aliases(), { champion: "1", challenger: "1" });
    });

    await t.step(
      "a challenger failing the gate is aliased challenger, never champion",
      async () => {
        // Threshold 1: (almost) everything light, so heavy recall collapses.
        const { bundle, registeredVersion } = await registerVariant(
          "fixture-all-light",
          (m) => m.threshold = 1,
        );
        assert.equal(registeredVersion, "2");
        const result = await promote({ ...promoteOptions, challenger: bundle });
        assert.equal(result.verdict.promote, false);
        assert.equal(result.champion.version, "fixture-a", "the champion came from the registry");
        assert.deepEqual(await aliases(), { champion: "1", challenger: "2" });
      },
    );

    const config = {
      ...DEFAULT_CONFIG,
      modelRegistry: "mlflow" as const,
      mlflowTrackingUri: server.url,
      mlflowModelName: "router-test",
      modelCacheDir: join(dir, "router-cache"),
      modelPollSeconds: POLL_SECONDS,
      adminToken: "registry-test-token",
    };
    // Refresh counts at the moment of each swap (the swap's log line is written synchronously
    // right after its count), to count the polls a promotion took exactly.
    const countsAtSwap: ReturnType<Service["reloader"]["refreshCounts"]>[] = [];
    const swapTimes: number[] = [];
    const service: Service = await createService(config, {
      logger: createLogger((line) => {
        logLines.push(line);
        if (!line.includes('"model swapped"')) return;
        countsAtSwap.push(service.reloader.refreshCounts());
        swapTimes.push(performance.now());
      }),
    });
    services.push(service);
    const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, service.app.fetch);
    httpServers.push(http);
    const base = `http://127.0.0.1:${http.addr.port}`;

    await t.step("the router downloaded and serves the champion", async () => {
      const listed = await (await fetch(`${base}/v1/models`)).json();
      assert.equal(listed.defaultVersion, "fixture-a");
      // The registry's challenger (the refused all-light version) is loaded beside it, never
      // the default: the rollout can score it.
      assert.deepEqual(
        listed.models.map((m: { version: string }) => m.version).sort(),
        ["fixture-a", "fixture-all-light", "heuristic-v1"],
      );
      assert.equal(
        await metricValue(service, /^trino_router_model_serving\{model_version="fixture-a"\}/),
        1,
      );
    });

    await t.step(
      "under steady load a promotion switches decisions at the next poll; no request fails",
      async () => {
        // Threshold 0: every read heavy. Recall 1 and nothing heavy on Small: it passes the gate.
        const { bundle } = await registerVariant("fixture-all-heavy", (m) => m.threshold = 0);
        const events = (await readFile(FIXTURE_LOG, "utf8")).trim().split("\n").slice(0, 200)
          .map((line) => eventToQueryInput(JSON.parse(line) as QueryCompletedEvent));
        const seen: {
          status: number;
          version?: string;
          decision?: string;
          reason?: string;
          startedAt: number;
          at: number;
        }[] = [];
        let stop = false;
        const worker = async (offset: number) => {
          for (let i = offset; !stop; i += 3) {
            const startedAt = performance.now();
            const response = await fetch(`${base}/v1/route`, {
              method: "POST",
              body: JSON.stringify(events[i % events.length]),
            });
            const body = await response.json();
            seen.push({
              status: response.status,
              version: body.modelVersion,
              decision: body.decision,
              reason: body.reason,
              startedAt,
              at: performance.now(),
            });
          }
        };
        const workers = [0, 1, 2].map(worker);
        await until("load running", () => Promise.resolve(seen.length > 30 ? true : undefined));
        const swapsBefore = service.reloader.refreshCounts().swapped;
        const swapsLogged = countsAtSwap.length;
        const promoted = await promote({ ...promoteOptions, challenger: bundle });
        assert.ok(promoted.verdict.promote, promoted.verdict.reasons.join("\n"));
        // promote() returns right after moving the alias.
        const aliasedAt = performance.now();
        const before = service.reloader.refreshCounts();
        const switchedAt = await until("the new version to serve", () => {
          const hit = seen.find((s) => s.at > aliasedAt && s.version === "fixture-all-heavy");
          return Promise.resolve(hit?.at);
        });
        const requestsAfterSwitch = seen.length;
        await until(
          "more load after the switch",
          () => Promise.resolve(seen.length > requestsAfterSwitch + 150 ? true : undefined),
        );
        stop = true;
        await Promise.all(workers);
        console.log(
          `reload: alias moved → first decision by the new version in ${
            Math.round(switchedAt - aliasedAt)
          } ms (poll interval ${POLL_SECONDS * 1000} ms); ${seen.length} requests under load`,
        );
        assert.deepEqual(seen.filter((s) => s.status !== 200), [], "every request succeeded");
        assert.equal(service.reloader.refreshCounts().swapped - swapsBefore, 1);
        // The poll that found the moved alias swapped it: counting from the moment promote()
        // returned, one poll may already have been on its way; the next one swaps.
        const total = (counts: typeof before) => Object.values(counts).reduce((a, b) => a + b);
        assert.equal(countsAtSwap.length, swapsLogged + 1);
        const polls = total(countsAtSwap.at(-1)!) - total(before);
        assert.ok(polls <= 2, `swapped after ${polls} polls`);
        const newReads = seen.filter((s) =>
          s.version === "fixture-all-heavy" && s.reason === "model"
        );
        assert.ok(newReads.length > 0 && newReads.every((s) => s.decision === "heavy"));
        // Atomic: every request that started after the swap was decided by the new version.
        const swappedAt = swapTimes.at(-1)!;
        assert.deepEqual(
          seen.filter((s) => s.startedAt > swappedAt && s.version !== "fixture-all-heavy"),
          [],
        );
        assert.equal(
          await metricValue(
            service,
            /^trino_router_model_serving\{model_version="fixture-all-heavy"\}/,
          ),
          1,
        );
        assert.ok(
          Number.isNaN(
            await metricValue(service, /^trino_router_model_serving\{model_version="fixture-a"\}/),
          ),
        );
        const swapLine = logLines.find((l) =>
          l.includes('"model swapped"') && l.includes("fixture-all-heavy")
        );
        assert.ok(swapLine);
        console.log(`swap (download, load, check): ${JSON.parse(swapLine).durationMs} ms`);
        // The trained bundle carries its training split's bins: once the new version featurized
        // 100 queries (150 requests over 200 distinct ones), its online PSI is exported.
        const psi = await metricValue(
          service,
          /^trino_router_feature_psi\{model_version="fixture-all-heavy",feature="sql_length"\}/,
        );
        assert.ok(psi >= 0, `psi ${psi}`);
      },
    );

    await t.step("aliasing corrupt bundles changes nothing but the refusal metric", async () => {
      const corrupt: [
        string,
        (m: Record<string, unknown>) => void,
        ((b: Uint8Array) => Uint8Array)?,
      ][] = [
        ["fixture-truncated-onnx", () => {}, (bytes) => bytes.subarray(0, 100)],
        ["fixture-wrong-schema", (m) => m.featureSchemaVersion = 999],
        ["fixture-wrong-features", (m) => (m.features as string[]).reverse()],
        ["fixture-garbage-onnx", () => {}, (bytes) => bytes.map((b) => b ^ 0x5a)],
      ];
      for (const [version, edit, onnx] of corrupt) {
        const { registeredVersion } = await registerVariant(version, edit, onnx);
        await client.setAlias("router-test", CHAMPION_ALIAS, registeredVersion);
        // The revision names the champion's registry version, then the challenger's.
        const revision = new RegExp(`revision=router-test@champion=${registeredVersion}[+"]`);
        const line = await until(
          `${version} refused`,
          () =>
            Promise.resolve(
              logLines.find((l) => l.includes("model refresh refused") && revision.test(l)),
            ),
        );
        console.log(`refused ${version}: ${JSON.parse(line).error}`);
        const listed = await (await fetch(`${base}/v1/models`)).json();
        assert.equal(listed.defaultVersion, "fixture-all-heavy", version);
        const routed = await fetch(`${base}/v1/route`, {
          method: "POST",
          body: JSON.stringify({ sqlText: "SELECT 1" }),
        });
        assert.equal((await routed.json()).modelVersion, "fixture-all-heavy");
      }
      assert.ok(
        await metricValue(service, /^trino_router_model_refresh_total\{outcome="refused"\}/) >=
          corrupt.length,
      );
      assert.equal(
        await metricValue(
          service,
          /^trino_router_model_serving\{model_version="fixture-all-heavy"\}/,
        ),
        1,
      );
    });

    await t.step(
      "a restart while MLflow is down serves the last accepted model from the local copy",
      async () => {
        const offline = await createService(
          {
            ...config,
            mlflowTrackingUri: `http://127.0.0.1:${freeLoopbackPort()}`,
            modelPollSeconds: 0,
          },
          { logger: createLogger((l) => logLines.push(l)) },
        );
        services.push(offline);
        assert.equal(offline.router.models.defaultVersion, "fixture-all-heavy");
        assert.ok(logLines.some((l) => l.includes("serving the last accepted bundle")));
        const refreshed = await offline.app.request("/v1/models/refresh", {
          method: "POST",
          headers: { authorization: "Bearer registry-test-token" },
        });
        assert.equal(refreshed.status, 502);
        assert.equal((await refreshed.json()).outcome, "source_error");
        assert.equal(offline.router.models.defaultVersion, "fixture-all-heavy");
      },
    );
  } finally {
    for (const http of httpServers) await http.shutdown();
    for (const service of services) await service.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
