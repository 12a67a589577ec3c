/**
 * ONNX scoring with `onnxruntime-web`'s WASM backend, loaded from the installed package's
 * files (never a CDN), single-threaded: the router scales by processes, not threads.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-web/wasm";
import type { OnnxSignature } from "./manifest.ts";
import type { Scorer } from "./scorer.ts";
import { LruCache } from "../lru_cache.ts";

let runtimeConfigured = false;
let callerWasm: Uint8Array | undefined;

/**
 * The onnxruntime-web WASM binary of the installed package: what the scorer reads unless the
 * caller handed one to {@linkcode useOnnxWasm} (and the service's runtime read permission).
 * Resolved on call, not at import, so a bundle that cannot resolve packages still loads.
 */
export function ortWasmPath(): string {
  return fileURLToPath(
    import.meta.resolve("onnxruntime-web/wasm").replace(/[^/]+$/, "ort-wasm-simd-threaded.wasm"),
  );
}

/**
 * Hands the scorer the onnxruntime-web WASM binary (`ort-wasm-simd-threaded.wasm` of the
 * installed `onnxruntime-web`) instead of resolving it from the package: for bundlers and
 * runtimes where `import.meta.resolve` does not lead to the file. Bytes, or a URL to read them
 * from (`file:` read from disk, anything else fetched). Call it before loading ONNX models;
 * once a scorer exists the runtime is configured and it throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ortWasmPath, useOnnxWasm } from "./onnx_scorer.ts";
 * const bytes = await Deno.readFile(ortWasmPath());
 * await useOnnxWasm(bytes);
 * await assert.rejects(useOnnxWasm(new Uint8Array([1, 2, 3])), /not a WebAssembly binary/);
 * ```
 */
export async function useOnnxWasm(wasm: Uint8Array | URL): Promise<void> {
  if (runtimeConfigured) {
    throw new Error("useOnnxWasm: the ONNX runtime is already configured (call it first)");
  }
  const bytes = wasm instanceof URL ? await readWasm(wasm) : wasm;
  // "\0asm": every WebAssembly module starts with it; fail here, not at the first model load.
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error("useOnnxWasm: not a WebAssembly binary (no \\0asm header)");
  }
  callerWasm = bytes;
}

async function readWasm(url: URL): Promise<Uint8Array> {
  if (url.protocol === "file:") return await readFile(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`useOnnxWasm: ${url} answered ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The binary this module read itself (not a caller's): the one it may free. */
let ownWasm: Uint8Array | undefined;

/** Points onnxruntime-web at the WASM binary once per process. */
function configureRuntime(): void {
  if (runtimeConfigured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  // Handing over the bytes (rather than a path to fetch) works the same in Deno and Node.
  ownWasm = callerWasm ? undefined : readFileSync(ortWasmPath());
  ort.env.wasm.wasmBinary = callerWasm ?? ownWasm;
  runtimeConfigured = true;
}

/**
 * Frees the WASM binary once the runtime is up: onnxruntime-web instantiates it once per
 * process (later sessions reuse the instance) and V8 keeps its own copy of the module's bytes,
 * so the 14 MB this module read are dead weight. onnxruntime-web's glue keeps a reference to the
 * array, so the buffer is detached (transferred to nothing) rather than dropped. A caller's
 * bytes (`useOnnxWasm`) are only let go of, never detached: they are the caller's.
 */
function releaseWasmBinary(): void {
  if (ort.env.wasm.wasmBinary === undefined) return;
  ort.env.wasm.wasmBinary = undefined;
  callerWasm = undefined;
  const own = ownWasm;
  ownWasm = undefined;
  try {
    (own?.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer })?.transfer?.(0);
  } catch {
    // Not detachable here: it stays until the runtime's glue lets go of it.
  }
}

/** Default byte budget of a session's score cache (~5,000 vectors of the bundled model's width). */
export const DEFAULT_SCORE_CACHE_BYTES = 2 * 1024 * 1024;

/** Rows of one `session.run` at most: a burst is scored in several runs, not one huge tensor. */
const MAX_BATCH_ROWS = 256;

/** Options of {@linkcode createOnnxScorer}. */
export interface OnnxScorerOptions {
  /** Byte budget of the score cache (exact vector → score); 0 disables it. */
  readonly scoreCacheBytes?: number;
}

/** A row waiting for the next run. */
interface PendingRow {
  readonly vector: Float32Array;
  readonly key: string;
  readonly resolve: (score: number) => void;
  readonly reject: (error: unknown) => void;
}

/** A cached score and the estimated bytes of its entry (key included). */
interface CachedScore {
  readonly score: number;
  readonly bytes: number;
}

/**
 * The exact bytes of a vector as a string (two bytes per UTF-16 unit, no decoding, so no two
 * vectors share a key): the score cache's key.
 */
function vectorKey(vector: Float32Array): string {
  const units = new Uint16Array(vector.buffer, vector.byteOffset, vector.length * 2);
  let key = "";
  for (let i = 0; i < units.length; i += 8192) {
    key += String.fromCharCode.apply(null, units.subarray(i, i + 8192) as unknown as number[]);
  }
  return key;
}

/**
 * Creates a scorer from ONNX bytes. The WASM session is single-threaded, so calls into it are
 * serialised, and two things keep its fixed cost (tensor set-up, copies into and out of the
 * WASM heap: tens of microseconds for a tree ensemble that itself runs in a few) off most
 * requests:
 * - a score cache keyed by the vector's exact bytes, per session (so per model version):
 *   a warm template with new literals usually yields the very same vector, and a session gives
 *   one row the same score every time, so a cached score is the same bytes as a fresh one;
 * - micro-batching: rows that arrive while a run is under way (or within the same turn) go
 *   into the next run together, one tensor of N rows; a tree ensemble scores each row on its
 *   own, so a row's score does not depend on its batch (`test/unit/onnx_scorer_test.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createOnnxScorer } from "./onnx_scorer.ts";
 * const bytes = await Deno.readFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/model.onnx", import.meta.url),
 * );
 * const { features } = JSON.parse(await Deno.readTextFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/manifest.json", import.meta.url),
 * ));
 * const scorer = await createOnnxScorer(bytes, { file: "model.onnx", input: "features", output: "probabilities" });
 * const long = new Float32Array(features.length);
 * long[0] = 5000; // sql_length: the fixture is heavy past 2,500 characters
 * const [light, heavy] = await scorer.score([new Float32Array(features.length), long]);
 * assert.ok(light < 0.5 && heavy > 0.5);
 * await scorer.close();
 * ```
 */
export async function createOnnxScorer(
  bytes: Uint8Array,
  signature: OnnxSignature,
  options: OnnxScorerOptions = {},
): Promise<Scorer> {
  configureRuntime();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  releaseWasmBinary();
  if (!session.inputNames.includes(signature.input)) {
    throw new Error(`ONNX model has no input "${signature.input}" (has ${session.inputNames})`);
  }
  if (!session.outputNames.includes(signature.output)) {
    throw new Error(`ONNX model has no output "${signature.output}" (has ${session.outputNames})`);
  }
  const cacheBytes = options.scoreCacheBytes ?? DEFAULT_SCORE_CACHE_BYTES;
  const cache = new LruCache<string, CachedScore>(cacheBytes > 0 ? Number.MAX_SAFE_INTEGER : 0, {
    maxBytes: cacheBytes,
    sizeOf: (entry) => entry.bytes,
  });
  const fetches = [signature.output];
  const run = async (vectors: readonly Float32Array[]): Promise<Float32Array> => {
    const width = vectors[0].length;
    // One row (the common case when idle): the tensor wraps the vector as is, no batch copy.
    let batch = vectors[0];
    if (vectors.length > 1) {
      batch = new Float32Array(vectors.length * width);
      vectors.forEach((v, i) => batch.set(v, i * width));
    }
    const input = new ort.Tensor("float32", batch, [vectors.length, width]);
    const result = await session.run({ [signature.input]: input }, fetches);
    const probabilities = result[signature.output];
    const columns = probabilities.dims[1] ?? 1;
    const data = probabilities.data as Float32Array;
    const scores = Float32Array.from(vectors, (_, i) => data[i * columns + columns - 1]);
    probabilities.dispose();
    return scores;
  };

  let pending: PendingRow[] = [];
  let draining: Promise<void> | undefined;
  const drain = async () => {
    while (pending.length > 0) {
      // One run takes rows of one width (a session has one), in arrival order.
      const width = pending[0].vector.length;
      let n = 0;
      while (n < pending.length && n < MAX_BATCH_ROWS && pending[n].vector.length === width) n++;
      const rows = pending.slice(0, n);
      pending = pending.slice(n);
      try {
        const scores = await run(rows.map((row) => row.vector));
        rows.forEach((row, i) => {
          cache.set(row.key, { score: scores[i], bytes: 64 + 2 * row.key.length });
          row.resolve(scores[i]);
        });
      } catch (error) {
        for (const row of rows) row.reject(error);
      }
    }
    draining = undefined;
  };

  return {
    score(vectors) {
      const scores = new Float32Array(vectors.length);
      let waits: Promise<void>[] | undefined;
      vectors.forEach((vector, i) => {
        const key = vectorKey(vector);
        const cached = cache.get(key);
        if (cached !== undefined) {
          scores[i] = cached.score;
          return;
        }
        (waits ??= []).push(
          new Promise<void>((resolve, reject) =>
            pending.push({
              vector,
              key,
              resolve: (score) => {
                scores[i] = score;
                resolve();
              },
              reject,
            })
          ),
        );
      });
      if (waits === undefined) return Promise.resolve(scores);
      // Started after this turn's microtasks: rows queued meanwhile share the run.
      draining ??= Promise.resolve().then(drain);
      return Promise.all(waits).then(() => scores);
    },
    // Rows already queued are scored first: a hot reload closes a replaced model while requests
    // that picked it may still be scoring.
    async close() {
      while (draining) await draining;
      await session.release();
    },
  };
}
