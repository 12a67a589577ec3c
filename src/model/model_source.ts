/**
 * Where model bundles come from. The service asks a `ModelSource` for bundles and never cares
 * whether they sit in a folder or behind an HTTP registry.
 *
 * @module
 */

import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { type ModelManifest, validateManifest } from "./manifest.ts";

/**
 * A model bundle: a validated manifest and, for ONNX models, the graph's bytes; `files` holds
 * the bytes of every file the manifest's `integrity` section lists, for its checksums.
 */
export interface ModelBundle {
  /** The bundle's manifest. */
  readonly manifest: ModelManifest;
  /** The ONNX model file (`kind: "onnx"` only). */
  readonly onnxBytes?: Uint8Array;
  /** Other files by name, for the manifest's checksums. */
  readonly files?: ReadonlyMap<string, Uint8Array>;
}

/** A models folder or registry that cannot be read; the service refuses to start on it. */
export class ModelSourceError extends Error {
  override name = "ModelSourceError";
}

/** Names of the files a bundle's manifest asks the loader to read. */
function bundleFileNames(manifest: ModelManifest): string[] {
  const listed = (manifest as { integrity?: { files?: Record<string, string> } }).integrity?.files;
  const names = new Set(Object.keys(listed ?? {}));
  if (manifest.onnx) names.add(manifest.onnx.file);
  return [...names];
}

/** Reads the files a manifest names with `read`, into a bundle. */
async function readBundle(
  manifest: ModelManifest,
  read: (name: string) => Promise<Uint8Array>,
): Promise<ModelBundle> {
  const files = new Map<string, Uint8Array>();
  for (const name of bundleFileNames(manifest)) files.set(name, await read(name));
  return { manifest, onnxBytes: manifest.onnx ? files.get(manifest.onnx.file) : undefined, files };
}

/**
 * Reads one bundle folder (`manifest.json` plus the files it names); `undefined` when the folder
 * has no manifest. Any other read error throws: a bundle that is there but unreadable is a
 * broken deployment, not an absent model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBundleFolder } from "./model_source.ts";
 * const folder = new URL("../../test/fixtures/models/tiny-xgb", import.meta.url).pathname;
 * const bundle = await readBundleFolder(folder);
 * assert.equal(bundle?.manifest.version, "tiny-xgb");
 * assert.equal(await readBundleFolder(new URL("../../test/", import.meta.url).pathname), undefined);
 * ```
 */
export async function readBundleFolder(folder: string): Promise<ModelBundle | undefined> {
  let text: string;
  try {
    text = await readFile(join(folder, "manifest.json"), "utf8");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return undefined;
    throw new ModelSourceError(`cannot read ${join(folder, "manifest.json")}: ${errorCode(error)}`);
  }
  const manifest = validateManifest(JSON.parse(text), folder);
  return await readBundle(
    manifest,
    async (name) => new Uint8Array(await readFile(join(folder, name))),
  );
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.name : "error";
}

/** What a source offers: its bundles, and which version it names as the default, if any. */
export interface ModelCatalog {
  /** Every bundle the source holds. */
  readonly bundles: readonly ModelBundle[];
  /** The version the source names as default, if any. */
  readonly defaultVersion?: string;
}

/** Anything that can list model bundles. */
export interface ModelSource {
  /** Human-readable origin for logs and errors (a path or a URL). */
  readonly origin: string;
  /** Reads every bundle and the default pointer. */
  load(): Promise<ModelCatalog>;
  /**
   * A cheap token that changes whenever `load()` would return something else (a folder's
   * listing, a registry alias's version). Hot reload polls it and loads only on a change.
   */
  revision?(): Promise<string>;
  /** Told when a catalog this source loaded passed the checks and now serves (e.g. to cache it). */
  accepted?(catalog: ModelCatalog): Promise<void>;
}

/** Name of the file in a models folder whose single line is the default version. */
export const DEFAULT_POINTER_FILE = "DEFAULT";

/**
 * Reads bundles from `<dir>/<version>/{manifest.json,model.onnx}` and the default version from
 * `<dir>/DEFAULT`. A folder without a manifest is skipped; a bad manifest fails the load, since
 * serving half a fleet's models is worse than refusing to start. So does a models folder, a
 * manifest or a `DEFAULT` pointer that exists but cannot be read ({@linkcode ModelSourceError}):
 * starting silently on the built-in heuristic would hide the broken deployment (ask for the
 * heuristic explicitly with `DEFAULT_MODEL_VERSION=heuristic-v1` instead).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directoryModelSource } from "./model_source.ts";
 * const catalog = await directoryModelSource("models").load();
 * assert(Array.isArray(catalog.bundles));
 * ```
 */
export function directoryModelSource(dir: string): ModelSource {
  return {
    origin: dir,
    async load() {
      const entries = await readdir(dir, { withFileTypes: true }).catch((error) => {
        throw new ModelSourceError(`cannot read models folder ${dir}: ${errorCode(error)}`);
      });
      const bundles: ModelBundle[] = [];
      for (const entry of entries.filter((e) => e.isDirectory()).sort(byName)) {
        const bundle = await readBundleFolder(join(dir, entry.name));
        if (bundle) bundles.push(bundle);
      }
      const pointerPath = join(dir, DEFAULT_POINTER_FILE);
      const pointer = await readFile(pointerPath, "utf8").catch((error) => {
        if (errorCode(error) === "ENOENT") return "";
        throw new ModelSourceError(`cannot read ${pointerPath}: ${errorCode(error)}`);
      });
      return { bundles, defaultVersion: pointer.trim() || undefined };
    },
    async revision() {
      // Every file's size and mtime (DEFAULT, and one level into each bundle folder): a copied-in
      // bundle or a rewritten DEFAULT changes it; an untouched folder never does.
      const parts: string[] = [];
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries.sort(byName)) {
        const path = join(dir, entry.name);
        const files = entry.isDirectory()
          ? (await readdir(path).catch(() => [] as string[])).sort().map((f) => join(path, f))
          : [path];
        for (const file of files) {
          const info = await stat(file).catch(() => undefined);
          if (info) parts.push(`${file}:${info.size}:${info.mtimeMs}`);
        }
      }
      return parts.join("|");
    },
  };
}

/**
 * Reads bundles from an HTTP model registry laid out like the folder source:
 * `<base>/index.json` (`{"versions": [...], "default": "..."}`), then
 * `<base>/<version>/manifest.json` and the ONNX file it names. Suits an object store bucket
 * served over HTTP (the design document's S3 layout).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { httpModelSource } from "./model_source.ts";
 * // A registry holding the test fixture, served by a stand-in for `fetch`.
 * const fixture = new URL("../../test/fixtures/models/", import.meta.url);
 * const registry = (url: string | URL | Request) => {
 *   const path = String(url).slice("http://models.test/".length);
 *   return Promise.resolve(
 *     path === "index.json"
 *       ? Response.json({ versions: ["tiny-xgb"], default: "tiny-xgb" })
 *       : Deno.readFile(new URL(path, fixture)).then((bytes) => new Response(bytes)),
 *   );
 * };
 * const catalog = await httpModelSource("http://models.test/", registry).load();
 * assert.deepEqual(catalog.bundles.map((b) => b.manifest.version), ["tiny-xgb"]);
 * ```
 */
export function httpModelSource(baseUrl: string, fetchImpl: typeof fetch = fetch): ModelSource {
  const base = baseUrl.replace(/\/+$/, "");
  const get = async (path: string): Promise<Response> => {
    const response = await fetchImpl(`${base}/${path}`);
    if (!response.ok) throw new Error(`GET ${base}/${path}: HTTP ${response.status}`);
    return response;
  };
  return {
    origin: base,
    async load() {
      const index = await (await get("index.json")).json() as {
        versions?: string[];
        default?: string;
      };
      const bundles: ModelBundle[] = [];
      for (const version of index.versions ?? []) {
        const manifest = validateManifest(
          await (await get(`${version}/manifest.json`)).json(),
          `${base}/${version}`,
        );
        bundles.push(
          await readBundle(
            manifest,
            async (name) => new Uint8Array(await (await get(`${version}/${name}`)).arrayBuffer()),
          ),
        );
      }
      return { bundles, defaultVersion: index.default };
    },
  };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
