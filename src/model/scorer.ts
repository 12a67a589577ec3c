/**
 * The seam between the decision policy and whatever computes a heavy-probability: an ONNX
 * session, or the built-in heuristic.
 *
 * @module
 */

/** Scores feature vectors: the probability that each query is heavy, in [0, 1]. */
export interface Scorer {
  /** Scores a batch of vectors of equal width; resolves to one score per vector. */
  score(vectors: readonly Float32Array[]): Promise<Float32Array>;
  /** Releases native resources (the WASM session). */
  close(): Promise<void>;
}
