/**
 * ONNX scoring with `onnxruntime-web`'s WASM backend, loaded from the installed package's
 * files (never a CDN), single-threaded: the router scales by processes, not threads.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-web/wasm";
import type { OnnxSignature } from "./manifest.ts";
import type { Scorer } from "./scorer.ts";

let runtimeConfigured = false;

/** The onnxruntime-web WASM binary the scorer reads at startup (its runtime read permission). */
export const ORT_WASM_PATH: string = fileURLToPath(
  import.meta.resolve("onnxruntime-web/wasm").replace(/[^/]+$/, "ort-wasm-simd-threaded.wasm"),
);

/** Points onnxruntime-web at the local WASM binary once per process. */
function configureRuntime(): void {
  if (runtimeConfigured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  // Handing over the bytes (rather than a path to fetch) works the same in Deno and Node.
  ort.env.wasm.wasmBinary = readFileSync(ORT_WASM_PATH);
  runtimeConfigured = true;
}

/**
 * Creates a scorer from ONNX bytes. Calls into one session are serialised: the WASM session is
 * single-threaded and a tree ensemble run takes microseconds, so a queue costs nothing.
 *
 * @example
 * ```ts ignore
 * import { createOnnxScorer } from "./onnx_scorer.ts";
 * const bytes = await Deno.readFile("models/2026-11-24-xgb/model.onnx");
 * const scorer = await createOnnxScorer(bytes, { file: "model.onnx", input: "features", output: "probabilities" });
 * const [score] = await scorer.score([new Float32Array(128)]);
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
