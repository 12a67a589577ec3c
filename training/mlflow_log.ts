/**
 * The training pipeline's MLflow hooks, used only when `MLFLOW_TRACKING_URI` is set: `train`
 * logs a run (parameters, the report's metrics, the whole bundle as artifacts, the data
 * fingerprint, the feature schema version) and registers it as a new version of one registered
 * model; `promote` moves the registry aliases (`challenger` for every evaluated version,
 * `champion` only past the promotion gate). The router follows `champion`.
 *
 * @module
 */

import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { ModelManifest } from "../src/model/manifest.ts";
import {
  CHALLENGER_ALIAS,
  CHAMPION_ALIAS,
  createMlflowClient,
  MLFLOW_MODEL_NAME,
  type MlflowClient,
  type MlflowModelVersion,
} from "../src/model/mlflow_client.ts";
import { MLFLOW_BUNDLE_ARTIFACT, mlflowModelSource } from "../src/model/mlflow_model_source.ts";

/** MLflow experiment training runs are logged to. */
export const MLFLOW_EXPERIMENT = "trino-smart-routing";
/** Model-version tag holding the bundle's own version (the router's `modelVersion`). */
export const MODEL_VERSION_TAG = "model_version";

/** Where training talks to MLflow, from the environment; `undefined` when not configured. */
export interface MlflowTarget {
  readonly client: MlflowClient;
  readonly modelName: string;
}

/**
 * Reads `MLFLOW_TRACKING_URI` (and `MLFLOW_MODEL_NAME`); no URI, no MLflow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlflowTargetFromEnv } from "./mlflow_log.ts";
 * assert.equal(mlflowTargetFromEnv({}), undefined);
 * assert.equal(mlflowTargetFromEnv({ MLFLOW_TRACKING_URI: "http://127.0.0.1:5000" })?.modelName, "trino-smart-routing");
 * ```
 */
export function mlflowTargetFromEnv(
  env: Readonly<Record<string, string | undefined>> = Deno.env.toObject(),
): MlflowTarget | undefined {
  if (!env.MLFLOW_TRACKING_URI) return undefined;
  return {
    client: createMlflowClient(env.MLFLOW_TRACKING_URI),
    modelName: env.MLFLOW_MODEL_NAME || MLFLOW_MODEL_NAME,
  };
}

/** What {@linkcode logTrainingRun} created. */
export interface LoggedRun {
  readonly runId: string;
  /** The registry's version number of the new model version. */
  readonly registeredVersion: string;
}

/**
 * Logs one finished training run and registers its bundle. `params` are the run's inputs
 * (CLI options); metrics come from the manifest, flattened to dotted keys.
 */
export async function logTrainingRun(
  target: MlflowTarget,
  bundleDir: string,
  manifest: ModelManifest,
  params: Readonly<Record<string, string | number | undefined>>,
): Promise<LoggedRun> {
  const { client, modelName } = target;
  const data = (manifest.trainingData ?? {}) as { fingerprint?: string; codeCommit?: string };
  const tags = {
    [MODEL_VERSION_TAG]: manifest.version,
    data_fingerprint: data.fingerprint ?? "unknown",
    feature_schema_version: String(manifest.featureSchemaVersion),
    ...(data.codeCommit ? { "mlflow.source.git.commit": data.codeCommit } : {}),
  };
  const experimentId = await client.ensureExperiment(MLFLOW_EXPERIMENT);
  const { runId, artifactUri } = await client.createRun(experimentId, manifest.version, tags);
  try {
    await client.logBatch(runId, {
      params: {
        ...Object.fromEntries(
          Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]),
        ),
        threshold: String(manifest.threshold),
        feature_count: String(manifest.features.length),
        feature_schema_version: String(manifest.featureSchemaVersion),
        data_fingerprint: data.fingerprint ?? "unknown",
      },
      metrics: flattenMetrics(manifest.metrics ?? {}),
    });
    for (const file of await filesUnder(bundleDir)) {
      const path = relative(bundleDir, file);
      await client.uploadArtifact(
        artifactUri,
        `${MLFLOW_BUNDLE_ARTIFACT}/${path}`,
        new Uint8Array(await readFile(file)),
      );
    }
    await client.endRun(runId);
  } catch (error) {
    await client.endRun(runId, "FAILED").catch(() => {});
    throw error;
  }
  await client.ensureRegisteredModel(modelName);
  const version = await client.createModelVersion(
    modelName,
    `${artifactUri}/${MLFLOW_BUNDLE_ARTIFACT}`,
    runId,
    tags,
  );
  return { runId, registeredVersion: version.version };
}

/** The registered version whose bundle is `modelVersion`, newest first if it was registered twice. */
export async function findRegisteredVersion(
  target: MlflowTarget,
  modelVersion: string,
): Promise<MlflowModelVersion | undefined> {
  const versions = await target.client.searchModelVersions(target.modelName);
  return versions
    .filter((v) => v.tags[MODEL_VERSION_TAG] === modelVersion)
    .sort((a, b) => Number(b.version) - Number(a.version))[0];
}

/**
 * Downloads the bundle an alias points at into `dir` (a models folder) and returns its
 * version, or `undefined` when the alias is not set: promotion replays the registry's champion.
 */
export async function downloadAliasedBundle(
  target: MlflowTarget,
  alias: string,
  dir: string,
): Promise<string | undefined> {
  if (!await target.client.getModelVersionByAlias(target.modelName, alias)) return undefined;
  const source = mlflowModelSource({
    trackingUri: target.client.trackingUri,
    client: target.client,
    modelName: target.modelName,
    alias,
    cacheDir: dir,
  });
  const catalog = await source.load();
  await source.accepted!(catalog);
  return catalog.defaultVersion;
}

/**
 * Moves the aliases after a promotion decision: the evaluated version becomes `challenger`
 * either way, and `champion` only when the gate passed. Returns the registry version moved.
 */
export async function applyRegistryPromotion(
  target: MlflowTarget,
  modelVersion: string,
  passed: boolean,
): Promise<MlflowModelVersion> {
  const registered = await findRegisteredVersion(target, modelVersion);
  if (!registered) {
    throw new Error(
      `model version ${modelVersion} is not registered under "${target.modelName}" in ` +
        `${target.client.trackingUri}; train it with MLFLOW_TRACKING_URI set`,
    );
  }
  await target.client.setAlias(target.modelName, CHALLENGER_ALIAS, registered.version);
  if (passed) await target.client.setAlias(target.modelName, CHAMPION_ALIAS, registered.version);
  return registered;
}

/** `{a: {b: 1}}` → `{"a.b": 1}`; only finite numbers, keys in MLflow's allowed characters. */
function flattenMetrics(
  value: unknown,
  prefix = "",
  out: Record<string, number> = {},
): Record<string, number> {
  if (typeof value === "number" && Number.isFinite(value) && prefix) {
    out[prefix.replace(/[^\w./ -]/g, "_").slice(0, 250)] = value;
  } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) {
      flattenMetrics(inner, prefix ? `${prefix}.${key}` : key, out);
    }
  }
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...await filesUnder(path));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}
