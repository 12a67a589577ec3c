/**
 * Where model bundles come from. The service asks a `ModelSource` for bundles and never cares
 * whether they sit in a folder or behind an HTTP registry.
 *
 * @module
 */

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { type ModelManifest, validateManifest } from "./manifest.ts";

/** A model bundle: a validated manifest and, for ONNX models, the graph's bytes. */
export interface ModelBundle {
  readonly manifest: ModelManifest;
  readonly onnxBytes?: Uint8Array;
}

/** What a source offers: its bundles, and which version it names as the default, if any. */
export interface ModelCatalog {
  readonly bundles: readonly ModelBundle[];
  readonly defaultVersion?: string;
}

/** Anything that can list model bundles. */
export interface ModelSource {
  /** Human-readable origin for logs and errors (a path or a URL). */
  readonly origin: string;
  load(): Promise<ModelCatalog>;
}

/** Name of the file in a models folder whose single line is the default version. */
export const DEFAULT_POINTER_FILE = "DEFAULT";

/**
 * Reads bundles from `<dir>/<version>/{manifest.json,model.onnx}` and the default version from
 * `<dir>/DEFAULT`. A folder without a manifest is skipped; a bad manifest fails the load, since
 * serving half a fleet's models is worse than refusing to start.
 *
 * @example
 * ```ts
 * import { directoryModelSource } from "./model_source.ts";
 * const catalog = await directoryModelSource("models").load();
 * console.assert(Array.isArray(catalog.bundles));
 * ```
 */
export function directoryModelSource(dir: string): ModelSource {
  return {
    origin: dir,
    async load() {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      const bundles: ModelBundle[] = [];
      for (const entry of entries.filter((e) => e.isDirectory()).sort(byName)) {
        const folder = join(dir, entry.name);
        const text = await readFile(join(folder, "manifest.json"), "utf8").catch(() => undefined);
        if (text === undefined) continue;
        const manifest = validateManifest(JSON.parse(text), folder);
        const onnxBytes = manifest.onnx
          ? new Uint8Array(await readFile(join(folder, manifest.onnx.file)))
          : undefined;
        bundles.push({ manifest, onnxBytes });
      }
      const pointer = await readFile(join(dir, DEFAULT_POINTER_FILE), "utf8").catch(() => "");
      return { bundles, defaultVersion: pointer.trim() || undefined };
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
 * ```ts ignore
 * import { httpModelSource } from "./model_source.ts";
 * const catalog = await httpModelSource("http://127.0.0.1:9000/models").load();
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
        const onnxBytes = manifest.onnx
          ? new Uint8Array(await (await get(`${version}/${manifest.onnx.file}`)).arrayBuffer())
          : undefined;
        bundles.push({ manifest, onnxBytes });
      }
      return { bundles, defaultVersion: index.default };
    },
  };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
