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

/** Points onnxruntime-web at the WASM binary once per process. */
function configureRuntime(): void {
  if (runtimeConfigured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  // Handing over the bytes (rather than a path to fetch) works the same in Deno and Node.
  ort.env.wasm.wasmBinary = callerWasm ?? readFileSync(ortWasmPath());
  runtimeConfigured = true;
}

/**
 * Creates a scorer from ONNX bytes. Calls into one session are serialised: the WASM session is
 * single-threaded and a tree ensemble run takes microseconds, so a queue costs nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createOnnxScorer } from "./onnx_scorer.ts";
 * const bytes = await Deno.readFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/model.onnx", import.meta.url),
 * );
 * const scorer = await createOnnxScorer(bytes, { file: "model.onnx", input: "features", output: "probabilities" });
 * const long = new Float32Array(93);
 * long[0] = 5000; // sql_length: the fixture is heavy past 2,500 characters
 * const [light, heavy] = await scorer.score([new Float32Array(93), long]);
 * assert.ok(light < 0.5 && heavy > 0.5);
 * await scorer.close();
 * ```
 */
export async function createOnnxScorer(
  bytes: Uint8Array,
  signature: OnnxSignature,
): Promise<Scorer> {
  configureRuntime();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  if (!session.inputNames.includes(signature.input)) {
    throw new Error(`ONNX model has no input "${signature.input}" (has ${session.inputNames})`);
  }
  if (!session.outputNames.includes(signature.output)) {
    throw new Error(`ONNX model has no output "${signature.output}" (has ${session.outputNames})`);
  }
  let queue: Promise<unknown> = Promise.resolve();
  const fetches = [signature.output];
  const run = async (vectors: readonly Float32Array[]): Promise<Float32Array> => {
    const width = vectors[0]?.length ?? 0;
    // The router scores one vector per request: the tensor wraps it as is, no batch copy.
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
  return {
    score(vectors) {
      if (vectors.length === 0) return Promise.resolve(new Float32Array(0));
      const next = queue.then(() => run(vectors));
      queue = next.catch(() => undefined);
      return next;
    },
    // Runs already queued finish first: a hot reload closes a replaced model while requests
    // that picked it may still be scoring.
    close: () => queue.then(() => session.release()),
  };
}
