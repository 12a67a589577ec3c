/**
 * Hot reload: a live {@linkcode ModelSet} whose contents can be replaced while requests run.
 * A new catalog is loaded beside the serving one, checked, then swapped in with one assignment,
 * so a request sees either the old set or the new one, never half of each. A catalog that fails
 * to load or to pass its checks is refused and the serving set keeps serving.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type Featurized, observedFeaturizer } from "../features/featurizer.ts";
import type { RecordLog } from "../log.ts";
import type { ModelManifest } from "./manifest.ts";
import { MlflowError } from "./mlflow_client.ts";
import { checkModelSet } from "./model_check.ts";
import {
  loadCatalog,
  type LoadedModel,
  type ModelSet,
  modelSetFromBundles,
  UnknownModelVersionError,
} from "./model_set.ts";
import type { ModelCatalog, ModelSource } from "./model_source.ts";

/**
 * What a refresh did: `swapped` a new set in, found the source `unchanged`, `refused` a catalog
 * that failed to load or check, or could not reach the source (`source_error`).
 */
export type RefreshOutcome = typeof REFRESH_OUTCOMES[number];

/** Every outcome, for metrics that must show zero counts too. */
export const REFRESH_OUTCOMES = ["swapped", "unchanged", "refused", "source_error"] as const;

/** The answer of one refresh. */
export interface RefreshResult {
  readonly outcome: RefreshOutcome;
  /** The default version serving after the refresh. */
  readonly servingVersion: string;
  /** The default version before it (differs from `servingVersion` only after a swap). */
  readonly previousVersion: string;
  /** Why a refresh was refused or failed. */
  readonly error?: string;
  readonly seconds: number;
}

/** Sees every feature vector a serving model computes (the online drift monitor). */
export type FeatureObserver = (manifest: ModelManifest, featurized: Featurized) => void;

/** Options of {@linkcode createModelReloader}. */
export interface ModelReloaderOptions {
  readonly source: ModelSource;
  /** Overrides the source's default version (`DEFAULT_MODEL_VERSION`). */
  readonly defaultVersion?: string;
  /** Poll `source.revision()` this often; 0 or undefined: refresh on request only. */
  readonly pollIntervalMs?: number;
  /** How long a replaced set stays open for requests that picked it before the swap. */
  readonly drainMs?: number;
  readonly log?: RecordLog;
  readonly observeFeatures?: FeatureObserver;
}

/** The live model set and its refresh controls. */
export interface ModelReloader {
  /** Always the currently serving set; hand it to the router once. */
  readonly models: ModelSet;
  readonly origin: string;
  /** Loads, checks and swaps in what the source offers now. Never throws. */
  refresh(trigger: "poll" | "api"): Promise<RefreshResult>;
  /** Refreshes counted by outcome since start. */
  refreshCounts(): Readonly<Record<RefreshOutcome, number>>;
  /** Stops polling and closes every set still open. */
  close(): Promise<void>;
}

interface Generation {
  readonly set: ModelSet;
  readonly models: ReadonlyMap<string, LoadedModel>;
  readonly fingerprint: string;
}

/**
 * Loads the source's catalog (failing, as before hot reload existed, when the first load or its
 * checks fail) and returns the reloader serving it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createModelReloader } from "./model_reloader.ts";
 * const source = { origin: "empty", load: () => Promise.resolve({ bundles: [] }) };
 * const reloader = await createModelReloader({ source });
 * assert.equal(reloader.models.defaultVersion, "heuristic-v1");
 * assert.equal((await reloader.refresh("api")).outcome, "unchanged");
 * await reloader.close();
 * ```
 */
export async function createModelReloader(options: ModelReloaderOptions): Promise<ModelReloader> {
  const { source, observeFeatures } = options;
  const log = options.log ?? (() => {});
  const drainMs = options.drainMs ?? 5_000;
  const counts: Record<RefreshOutcome, number> = {
    swapped: 0,
    unchanged: 0,
    refused: 0,
    source_error: 0,
  };
  const draining = new Set<{ timer: ReturnType<typeof setTimeout>; set: ModelSet }>();
  let closed = false;
  let inflight: Promise<RefreshResult> | undefined;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;

  const wantedDefault = (catalog: ModelCatalog) => options.defaultVersion ?? catalog.defaultVersion;
  const revisionOf = async () => source.revision ? await source.revision() : undefined;
  let revision = await revisionOf().catch(() => undefined);
  const first = await loadCatalog(source, options.defaultVersion);
  let current = await build(first);
  try {
    await checkModelSet(current.set);
  } catch (error) {
    await current.set.close();
    throw error;
  }
  await source.accepted?.(first);

  async function build(catalog: ModelCatalog): Promise<Generation> {
    const set = await modelSetFromBundles(catalog.bundles, wantedDefault(catalog));
    const models = new Map<string, LoadedModel>();
    for (const version of set.versions) {
      const model = set.get(version);
      models.set(
        version,
        observeFeatures
          ? {
            ...model,
            featurize: observedFeaturizer(
              model.featurize,
              (featurized) => observeFeatures(model.manifest, featurized),
            ),
          }
          : model,
      );
    }
    return { set, models, fingerprint: catalogFingerprint(catalog, wantedDefault(catalog)) };
  }

  const view: ModelSet = {
    get defaultVersion() {
      return current.set.defaultVersion;
    },
    get versions() {
      return current.set.versions;
    },
    get(version) {
      // One read of `current`: the model returned belongs to a single generation.
      const generation = current;
      const wanted = version ?? generation.set.defaultVersion;
      const model = generation.models.get(wanted);
      if (!model) throw new UnknownModelVersionError(wanted, generation.set.versions);
      return model;
    },
    close: () => reloader.close(),
  };

  function retire(set: ModelSet): void {
    const entry = {
      set,
      timer: setTimeout(() => {
        draining.delete(entry);
        set.close().catch(() => {});
      }, drainMs),
    };
    draining.add(entry);
  }

  async function attempt(trigger: "poll" | "api"): Promise<RefreshResult> {
    const started = performance.now();
    const previousVersion = current.set.defaultVersion;
    let nextRevision: string | undefined;
    const done = (outcome: RefreshOutcome, error?: string): RefreshResult => {
      counts[outcome] += 1;
      const result = {
        outcome,
        servingVersion: current.set.defaultVersion,
        previousVersion,
        error,
        seconds: (performance.now() - started) / 1000,
      };
      if (outcome === "refused" || outcome === "source_error") {
        log({
          level: "warn",
          msg: outcome === "refused"
            ? "model refresh refused; the serving model keeps serving"
            : "model source unreachable; the serving model keeps serving",
          modelVersion: previousVersion,
          error,
          trigger,
          origin: source.origin,
          revision: nextRevision,
        });
      } else if (outcome === "swapped") {
        log({
          level: "info",
          msg: "model swapped",
          modelVersion: result.servingVersion,
          previousVersion,
          durationMs: Math.round(result.seconds * 1000),
          trigger,
          origin: source.origin,
        });
      }
      return result;
    };

    let catalog: ModelCatalog;
    try {
      nextRevision = await revisionOf();
      if (nextRevision !== undefined && nextRevision === revision) return done("unchanged");
      catalog = await source.load();
    } catch (error) {
      return done(isUnreachable(error) ? "source_error" : "refused", message(error));
    }
    if (catalogFingerprint(catalog, wantedDefault(catalog)) === current.fingerprint) {
      revision = nextRevision;
      return done("unchanged");
    }
    let next: Generation;
    try {
      next = await build(catalog);
    } catch (error) {
      return done("refused", message(error));
    }
    try {
      await checkModelSet(next.set);
    } catch (error) {
      await next.set.close();
      return done("refused", message(error));
    }
    if (closed) {
      await next.set.close();
      return done("unchanged");
    }
    const previous = current;
    current = next;
    revision = nextRevision;
    retire(previous.set);
    try {
      await source.accepted?.(catalog);
    } catch (error) {
      log({
        level: "warn",
        msg: "could not keep a local copy of the new model",
        error: message(error),
      });
    }
    return done("swapped");
  }

  function schedulePoll(): void {
    if (!options.pollIntervalMs || closed) return;
    pollTimer = setTimeout(async () => {
      await reloader.refresh("poll");
      schedulePoll();
    }, options.pollIntervalMs);
  }

  const reloader: ModelReloader = {
    models: view,
    origin: source.origin,
    refresh(trigger) {
      // A refresh asked for while one runs gets that one's answer: loads never overlap.
      inflight ??= attempt(trigger).finally(() => inflight = undefined);
      return inflight;
    },
    refreshCounts: () => ({ ...counts }),
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(pollTimer);
      await inflight?.catch(() => {});
      for (const entry of draining) {
        clearTimeout(entry.timer);
        await entry.set.close();
      }
      draining.clear();
      await current.set.close();
    },
  };
  schedulePoll();
  return reloader;
}

/** Same versions, manifests, graphs and default → same fingerprint: nothing to swap. */
function catalogFingerprint(catalog: ModelCatalog, defaultVersion: string | undefined): string {
  const hash = createHash("sha256");
  hash.update(`default=${defaultVersion ?? ""}\n`);
  for (const bundle of catalog.bundles) {
    hash.update(JSON.stringify(bundle.manifest));
    hash.update(bundle.onnxBytes ?? new Uint8Array());
  }
  return hash.digest("hex");
}

/** Network or server trouble (the source is down) as opposed to a bad bundle. */
function isUnreachable(error: unknown): boolean {
  if (error instanceof MlflowError) return error.status === 0 || error.status >= 500;
  return error instanceof TypeError;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
