/**
 * A {@linkcode ModelSource} backed by the MLflow model registry: the bundle of the version a
 * registry alias (`champion`) points at, downloaded over MLflow's REST API. The last accepted
 * bundle is kept in a local folder (the folder source's layout), so a router that restarts while
 * MLflow is down still serves the last good model.
 *
 * @module
 */

import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { RecordLog } from "../log.ts";
import { createMlflowClient, type MlflowClient } from "./mlflow_client.ts";
import {
  DEFAULT_POINTER_FILE,
  directoryModelSource,
  type ModelBundle,
  type ModelCatalog,
  type ModelSource,
} from "./model_source.ts";

/** The registry artifact folder (under a run's artifacts) that holds a bundle. */
export const MLFLOW_BUNDLE_ARTIFACT = "bundle";

/** Options of {@linkcode mlflowModelSource}. */
export interface MlflowModelSourceOptions {
  readonly trackingUri: string;
  /** Registered-model name. */
  readonly modelName: string;
  /** Alias the router follows (MLflow 3 aliases replace stages), e.g. `champion`. */
  readonly alias: string;
  /**
   * Aliases loaded beside it when set (e.g. `challenger`, for the rollout's challenger scoring);
   * the served alias stays the default.
   */
  readonly companions?: readonly string[];
  /** Where the last accepted bundle is kept (a models folder: `<version>/`, `DEFAULT`). */
  readonly cacheDir: string;
  readonly client?: MlflowClient;
  readonly log?: RecordLog;
  /** Refuse bundles larger than this (a registry entry must not fill the disk). */
  readonly maxBundleBytes?: number;
}

const STAGING_DIR = ".staging";
const MAX_BUNDLE_FILES = 200;
const DEFAULT_MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

/**
 * Creates the registry source. `load()` downloads the aliased version's bundle into a staging
 * folder; `accepted()` (called by the reloader once the bundle passed its checks) moves it into
 * `cacheDir` and points `cacheDir/DEFAULT` at it. Only the first `load()` of a process falls back
 * to that cached copy when the registry cannot be reached; later failures are reported, and the
 * model already serving keeps serving.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mlflowModelSource } from "./mlflow_model_source.ts";
 * const source = mlflowModelSource({
 *   trackingUri: "http://127.0.0.1:5000",
 *   modelName: "trino-router",
 *   alias: "champion",
 *   cacheDir: "/tmp/router-model-cache",
 * });
 * assert.equal(source.origin, "mlflow http://127.0.0.1:5000 models:/trino-router@champion");
 * ```
 */
export function mlflowModelSource(options: MlflowModelSourceOptions): ModelSource {
  const { modelName, alias, cacheDir } = options;
  const client = options.client ?? createMlflowClient(options.trackingUri);
  const log = options.log ?? (() => {});
  const maxBytes = options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const companions = options.companions ?? [];
  const staged = new WeakMap<ModelCatalog, readonly string[]>();
  let loadedOnce = false;

  async function aliased() {
    const version = await client.getModelVersionByAlias(modelName, alias);
    if (!version) {
      throw new Error(
        `MLflow registered model "${modelName}" has no alias "${alias}" (or does not exist); ` +
          "promote a version first",
      );
    }
    return version;
  }

  /** Downloads an artifact folder recursively, bounded in files and bytes. */
  async function download(
    artifactUri: string,
    into: string,
    budget: { files: number; bytes: number },
  ) {
    await mkdir(into, { recursive: true });
    const entries = await client.listArtifacts(artifactUri);
    for (const entry of entries) {
      // MLflow lists names relative to the folder; a name that tries to leave it is refused.
      const name = basename(entry.path);
      if (name === "" || name === "." || name === "..") {
        throw new Error(`artifact listing of ${artifactUri} has an unsafe name "${entry.path}"`);
      }
      if (entry.isDir) {
        await download(`${artifactUri}/${name}`, join(into, name), budget);
        continue;
      }
      const bytes = await client.downloadArtifact(artifactUri, name);
      budget.files += 1;
      budget.bytes += bytes.length;
      if (budget.files > MAX_BUNDLE_FILES || budget.bytes > maxBytes) {
        throw new Error(
          `bundle at ${artifactUri} exceeds ${MAX_BUNDLE_FILES} files or ${maxBytes} bytes`,
        );
      }
      await writeFile(join(into, name), bytes);
    }
  }

  /** The served alias's version, then each set companion's (distinct registry versions). */
  async function versions() {
    const served = await aliased();
    const found = [served];
    for (const companion of companions) {
      const version = await client.getModelVersionByAlias(modelName, companion);
      if (version && !found.some((v) => v.version === version.version)) found.push(version);
    }
    return found;
  }

  async function loadRemote(): Promise<ModelCatalog> {
    const found = await versions();
    // Loads are serialised by the reloader, so one staging folder at a time is enough.
    const root = join(cacheDir, STAGING_DIR);
    await rm(root, { recursive: true, force: true });
    const catalogs: { bundle: ModelBundle; dir: string }[] = [];
    for (const version of found) {
      const artifactUri = await client.resolveSource(version.source);
      const dir = join(root, `v${version.version}`);
      await download(artifactUri, join(dir, MLFLOW_BUNDLE_ARTIFACT), { files: 0, bytes: 0 });
      const catalog = await directoryModelSource(dir).load();
      if (catalog.bundles.length !== 1) {
        throw new Error(
          `MLflow version ${modelName}/${version.version} (${artifactUri}) holds no manifest.json`,
        );
      }
      catalogs.push({ bundle: catalog.bundles[0], dir: join(dir, MLFLOW_BUNDLE_ARTIFACT) });
    }
    // Two registry versions of one bundle (registered twice) load once.
    const unique = catalogs.filter((c, i) =>
      catalogs.findIndex((o) => o.bundle.manifest.version === c.bundle.manifest.version) === i
    );
    const result = {
      bundles: unique.map((c) => c.bundle),
      defaultVersion: unique[0].bundle.manifest.version,
    };
    staged.set(result, unique.map((c) => c.dir));
    return result;
  }

  return {
    origin: `mlflow ${client.trackingUri} models:/${modelName}@${alias}`,
    async load() {
      try {
        const catalog = await loadRemote();
        loadedOnce = true;
        return catalog;
      } catch (error) {
        const cached = loadedOnce ? undefined : await cachedCatalog(cacheDir);
        if (!cached) throw error;
        loadedOnce = true;
        log({
          level: "warn",
          msg: "model registry unreachable; serving the last accepted bundle from the local copy",
          error: (error as Error).message,
          modelVersion: cached.defaultVersion,
          cacheDir,
        });
        return cached;
      }
    },
    async revision() {
      const found = await versions();
      return `${modelName}@${alias}=${found.map((v) => v.version).join("+")}`;
    },
    async accepted(catalog) {
      const dirs = staged.get(catalog);
      if (!dirs) return;
      const keep = catalog.bundles.map((b) => b.manifest.version);
      for (const [i, dir] of dirs.entries()) {
        const target = join(cacheDir, keep[i]);
        await rm(target, { recursive: true, force: true });
        await rename(dir, target);
      }
      // Write-then-rename: a crash mid-write never leaves a half-written pointer.
      const pointerTmp = join(cacheDir, `${DEFAULT_POINTER_FILE}.tmp`);
      await writeFile(pointerTmp, catalog.defaultVersion + "\n");
      await rename(pointerTmp, join(cacheDir, DEFAULT_POINTER_FILE));
      for (const entry of await readdir(cacheDir, { withFileTypes: true })) {
        if (entry.isDirectory() && !keep.includes(entry.name)) {
          await rm(join(cacheDir, entry.name), { recursive: true, force: true });
        }
      }
    },
  };
}

/** The cached copy as a catalog, or `undefined` when there is none. */
async function cachedCatalog(cacheDir: string): Promise<ModelCatalog | undefined> {
  const pointer = await stat(join(cacheDir, DEFAULT_POINTER_FILE)).catch(() => undefined);
  if (!pointer) return undefined;
  const catalog = await directoryModelSource(cacheDir).load();
  return catalog.bundles.length > 0 ? catalog : undefined;
}
