/**
 * A small client of MLflow's REST API (tracking, model registry, proxied artifacts): the one
 * place that knows MLflow's paths and payloads. The router's registry source reads through it
 * and training writes through it, so neither needs the Python `mlflow` package.
 *
 * Artifacts go through the tracking server's artifact proxy (`mlflow server --serve-artifacts`,
 * the default since MLflow 2): run artifact URIs look like `mlflow-artifacts:/<exp>/<run>/artifacts`.
 *
 * @module
 */

/** The registered-model name training registers under and the router follows by default. */
export const MLFLOW_MODEL_NAME = "trino-smart-routing";
/** Registry alias of the production model (MLflow 3 aliases replace the old stages). */
export const CHAMPION_ALIAS = "champion";
/** Registry alias of a registered version under evaluation. */
export const CHALLENGER_ALIAS = "challenger";

/** An MLflow API call that failed, with MLflow's error code when it sent one. */
export class MlflowError extends Error {
  override name = "MlflowError";
  constructor(message: string, readonly status: number, readonly errorCode?: string) {
    super(message);
  }
}

/** A registered model version, as the registry describes it. */
export interface MlflowModelVersion {
  readonly name: string;
  readonly version: string;
  readonly source: string;
  readonly runId?: string;
  readonly status?: string;
  readonly aliases: readonly string[];
  readonly tags: Readonly<Record<string, string>>;
}

/** One entry of an artifact folder listing. */
export interface MlflowArtifact {
  readonly path: string;
  readonly isDir: boolean;
  readonly fileSize?: number;
}

/** Options of {@linkcode createMlflowClient}. */
export interface MlflowClientOptions {
  /** Per-call budget; a registry that hangs must not hang a reload forever. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** The calls the router and training make. */
export interface MlflowClient {
  readonly trackingUri: string;
  /** The experiment's id, creating the experiment when it does not exist. */
  ensureExperiment(name: string): Promise<string>;
  /** Starts a run; returns its id and artifact URI. */
  createRun(
    experimentId: string,
    runName: string,
    tags?: Readonly<Record<string, string>>,
  ): Promise<{ runId: string; artifactUri: string }>;
  /** Logs parameters, metrics and tags (split into MLflow's per-request limits). */
  logBatch(runId: string, batch: {
    params?: Readonly<Record<string, string>>;
    metrics?: Readonly<Record<string, number>>;
    tags?: Readonly<Record<string, string>>;
  }): Promise<void>;
  /** Marks a run finished (or failed). */
  endRun(runId: string, status?: "FINISHED" | "FAILED"): Promise<void>;
  /** Uploads one file under the run's artifact root. */
  uploadArtifact(artifactUri: string, path: string, bytes: Uint8Array): Promise<void>;
  /** Lists an artifact folder (`artifactUri` is the folder). */
  listArtifacts(artifactUri: string): Promise<MlflowArtifact[]>;
  /** Downloads one artifact file. */
  downloadArtifact(artifactUri: string, path: string): Promise<Uint8Array>;
  /** Creates the registered model unless it already exists. */
  ensureRegisteredModel(name: string): Promise<void>;
  createModelVersion(
    name: string,
    source: string,
    runId: string,
    tags?: Readonly<Record<string, string>>,
  ): Promise<MlflowModelVersion>;
  /** The version an alias points at, or `undefined` when the alias is not set. */
  getModelVersionByAlias(name: string, alias: string): Promise<MlflowModelVersion | undefined>;
  setAlias(name: string, alias: string, version: string): Promise<void>;
  /** Every version of a registered model (newest first, as MLflow orders them). */
  searchModelVersions(name: string): Promise<MlflowModelVersion[]>;
  /** Resolves a model version's `source` (`runs:/…` or `mlflow-artifacts:/…`) to an artifact URI. */
  resolveSource(source: string): Promise<string>;
}

const ARTIFACT_SCHEME = "mlflow-artifacts:";
/** MLflow's LogBatch limits per request. */
const MAX_PARAMS_PER_BATCH = 100;
const MAX_METRICS_PER_BATCH = 1000;
/** MLflow 3 accepts parameter values up to 6,000 characters. */
const MAX_PARAM_LENGTH = 6000;

/**
 * Creates a client for the tracking server at `trackingUri` (`http(s)://host:port`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMlflowClient } from "./mlflow_client.ts";
 * assert.throws(() => createMlflowClient("file:///tmp/mlruns"), /http/);
 * ```
 */
export function createMlflowClient(
  trackingUri: string,
  options: MlflowClientOptions = {},
): MlflowClient {
  if (!/^https?:\/\//.test(trackingUri)) {
    throw new MlflowError(
      `MLFLOW_TRACKING_URI must be an http(s) tracking server URL, got "${trackingUri}"`,
      0,
    );
  }
  const base = trackingUri.replace(/\/+$/, "");
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, {
        ...init,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new MlflowError(
        `${init.method ?? "GET"} ${base}${path}: ${(error as Error).message}`,
        0,
      );
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      let code: string | undefined;
      let message = text.slice(0, 500);
      try {
        const json = JSON.parse(text) as { error_code?: string; message?: string };
        code = json.error_code;
        message = json.message ?? message;
      } catch { /* not JSON: keep the text */ }
      throw new MlflowError(
        `${init.method ?? "GET"} ${base}${path}: HTTP ${response.status} ${message}`,
        response.status,
        code,
      );
    }
    return response;
  }
  const api = async <T>(method: "GET" | "POST" | "PATCH", path: string, body?: unknown) => {
    const url = method === "GET" && body
      ? `${path}?${new URLSearchParams(body as Record<string, string>)}`
      : path;
    const response = await call(`/api/2.0/mlflow/${url}`, {
      method,
      headers: { "Content-Type": "application/json" },
      body: method === "GET" ? undefined : JSON.stringify(body ?? {}),
    });
    return await response.json() as T;
  };
  /** `mlflow-artifacts:/a/b` (or `mlflow-artifacts://host/a/b`) → `a/b`. */
  const artifactPath = (uri: string): string => {
    if (!uri.startsWith(ARTIFACT_SCHEME)) {
      throw new MlflowError(
        `artifact URI "${uri}" is not served by the tracking server; start it with ` +
          "--serve-artifacts (MLflow's default) so artifacts are mlflow-artifacts:/ URIs",
        0,
      );
    }
    return uri.slice(ARTIFACT_SCHEME.length).replace(/^\/\/[^/]*/, "").replace(/^\/+/, "")
      .replace(/\/+$/, "");
  };
  const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");
  const toVersion = (json: Record<string, unknown>): MlflowModelVersion => ({
    name: String(json.name),
    version: String(json.version),
    source: String(json.source ?? ""),
    runId: json.run_id ? String(json.run_id) : undefined,
    status: json.status ? String(json.status) : undefined,
    aliases: Array.isArray(json.aliases) ? json.aliases.map(String) : [],
    tags: Object.fromEntries(
      (Array.isArray(json.tags) ? json.tags as { key: string; value: string }[] : [])
        .map(({ key, value }) => [key, value]),
    ),
  });
  const pairs = (record: Readonly<Record<string, string>> = {}) =>
    Object.entries(record).map(([key, value]) => ({ key, value }));

  return {
    trackingUri: base,
    async ensureExperiment(name) {
      try {
        const found = await api<{ experiment: { experiment_id: string } }>(
          "GET",
          "experiments/get-by-name",
          { experiment_name: name },
        );
        return found.experiment.experiment_id;
      } catch (error) {
        if ((error as MlflowError).errorCode !== "RESOURCE_DOES_NOT_EXIST") throw error;
      }
      return (await api<{ experiment_id: string }>("POST", "experiments/create", { name }))
        .experiment_id;
    },
    async createRun(experimentId, runName, tags) {
      const { run } = await api<{ run: { info: { run_id: string; artifact_uri: string } } }>(
        "POST",
        "runs/create",
        {
          experiment_id: experimentId,
          run_name: runName,
          start_time: Date.now(),
          tags: pairs(tags),
        },
      );
      return { runId: run.info.run_id, artifactUri: run.info.artifact_uri };
    },
    async logBatch(runId, batch) {
      const params = pairs(batch.params).map(({ key, value }) => ({
        key,
        value: value.slice(0, MAX_PARAM_LENGTH),
      }));
      const timestamp = Date.now();
      const metrics = Object.entries(batch.metrics ?? {})
        .filter(([, value]) => Number.isFinite(value))
        .map(([key, value]) => ({ key, value, timestamp, step: 0 }));
      const tags = pairs(batch.tags);
      let first = true;
      while (first || params.length > 0 || metrics.length > 0) {
        await api("POST", "runs/log-batch", {
          run_id: runId,
          params: params.splice(0, MAX_PARAMS_PER_BATCH),
          metrics: metrics.splice(0, MAX_METRICS_PER_BATCH),
          tags: first ? tags : [],
        });
        first = false;
      }
    },
    async endRun(runId, status = "FINISHED") {
      await api("POST", "runs/update", { run_id: runId, status, end_time: Date.now() });
    },
    async uploadArtifact(artifactUri, path, bytes) {
      const target = `${artifactPath(artifactUri)}/${path}`;
      await call(`/api/2.0/mlflow-artifacts/artifacts/${encodePath(target)}`, {
        method: "PUT",
        body: bytes as Uint8Array<ArrayBuffer>,
      });
    },
    async listArtifacts(artifactUri) {
      const path = artifactPath(artifactUri);
      const response = await call(
        `/api/2.0/mlflow-artifacts/artifacts?${new URLSearchParams({ path })}`,
      );
      const json = await response.json() as {
        files?: { path: string; is_dir: boolean; file_size?: number | string }[];
      };
      return (json.files ?? []).map((f) => ({
        path: f.path,
        isDir: f.is_dir,
        fileSize: f.file_size === undefined ? undefined : Number(f.file_size),
      }));
    },
    async downloadArtifact(artifactUri, path) {
      const target = `${artifactPath(artifactUri)}/${path}`;
      const response = await call(`/api/2.0/mlflow-artifacts/artifacts/${encodePath(target)}`);
      return new Uint8Array(await response.arrayBuffer());
    },
    async ensureRegisteredModel(name) {
      try {
        await api("POST", "registered-models/create", { name });
      } catch (error) {
        if ((error as MlflowError).errorCode !== "RESOURCE_ALREADY_EXISTS") throw error;
      }
    },
    async createModelVersion(name, source, runId, tags) {
      const json = await api<{ model_version: Record<string, unknown> }>(
        "POST",
        "model-versions/create",
        { name, source, run_id: runId, tags: pairs(tags) },
      );
      return toVersion(json.model_version);
    },
    async getModelVersionByAlias(name, alias) {
      try {
        const json = await api<{ model_version: Record<string, unknown> }>(
          "GET",
          "registered-models/alias",
          { name, alias },
        );
        return toVersion(json.model_version);
      } catch (error) {
        // MLflow answers an unset alias with INVALID_PARAMETER_VALUE "... alias x not found".
        const { errorCode, message } = error as MlflowError;
        if (errorCode === "RESOURCE_DOES_NOT_EXIST") return undefined;
        if (errorCode === "INVALID_PARAMETER_VALUE" && /alias .* not found/i.test(message)) {
          return undefined;
        }
        throw error;
      }
    },
    async setAlias(name, alias, version) {
      await api("POST", "registered-models/alias", { name, alias, version });
    },
    async searchModelVersions(name) {
      const versions: MlflowModelVersion[] = [];
      let pageToken: string | undefined;
      do {
        const json = await api<{
          model_versions?: Record<string, unknown>[];
          next_page_token?: string;
        }>("GET", "model-versions/search", {
          filter: `name='${name.replaceAll("'", "\\'")}'`,
          max_results: "200",
          ...(pageToken ? { page_token: pageToken } : {}),
        });
        versions.push(...(json.model_versions ?? []).map(toVersion));
        pageToken = json.next_page_token;
      } while (pageToken);
      return versions;
    },
    async resolveSource(source) {
      const runs = /^runs:\/([^/]+)\/?(.*)$/.exec(source);
      if (!runs) return source;
      const { run } = await api<{ run: { info: { artifact_uri: string } } }>(
        "GET",
        "runs/get",
        { run_id: runs[1] },
      );
      return runs[2]
        ? `${run.info.artifact_uri.replace(/\/+$/, "")}/${runs[2]}`
        : run.info.artifact_uri;
    },
  };
}
