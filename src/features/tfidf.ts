/**
 * TF-IDF over 1- and 2-grams of normalised SQL tokens. Fitting happens offline (training
 * split only); serving reads the vocabulary and IDF weights from the model manifest.
 *
 * @module
 */

/** Vocabulary and inverse document frequencies, stored in the model manifest. */
export interface TfidfSpec {
  /** n-grams in vector order; a 2-gram is its two words joined by one space. */
  readonly vocabulary: readonly string[];
  /** IDF weight per vocabulary entry, `ln((1 + n) / (1 + df)) + 1`. */
  readonly idf: readonly number[];
}

/** Options for {@linkcode fitTfidf}. */
export interface TfidfFitOptions {
  /** Smallest number of documents an n-gram must appear in. */
  readonly minDocumentFrequency?: number;
  /** Largest vocabulary; the most frequent n-grams win, ties broken alphabetically. */
  readonly maxFeatures?: number;
}

/** Separator of the two words of a 2-gram. Words never contain a space, so it cannot collide. */
const JOINER = " ";

/**
 * Counts the 1- and 2-grams of a word sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ngramCounts } from "./tfidf.ts";
 * const counts = ngramCounts(["select", "*", "select"]);
 * assert(counts.get("select") === 2 && counts.get("select *") === 1);
 * ```
 */
export function ngramCounts(words: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    counts.set(words[i], (counts.get(words[i]) ?? 0) + 1);
    if (i > 0) {
      const gram = words[i - 1] + JOINER + words[i];
      counts.set(gram, (counts.get(gram) ?? 0) + 1);
    }
  }
  return counts;
}

/**
 * Fits a vocabulary and IDF weights on a corpus of word sequences. Deterministic: the same
 * corpus always gives the same spec, whatever the order of its documents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitTfidf } from "./tfidf.ts";
 * const spec = fitTfidf([["select", "a"], ["select", "b"]], { minDocumentFrequency: 2 });
 * assert(spec.vocabulary.join() === "select");
 * ```
 */
export function fitTfidf(
  documents: readonly (readonly string[])[],
  options: TfidfFitOptions = {},
): TfidfSpec {
  const { minDocumentFrequency = 2, maxFeatures = 5_000 } = options;
  const documentFrequency = new Map<string, number>();
  for (const words of documents) {
    for (const gram of ngramCounts(words).keys()) {
      documentFrequency.set(gram, (documentFrequency.get(gram) ?? 0) + 1);
    }
  }
  const kept = [...documentFrequency]
    .filter(([, df]) => df >= minDocumentFrequency)
    .sort(([a, dfA], [b, dfB]) => dfB - dfA || (a < b ? -1 : a > b ? 1 : 0))
    .slice(0, maxFeatures);
  const n = documents.length;
  return {
    vocabulary: kept.map(([gram]) => gram),
    idf: kept.map(([, df]) => Math.fround(Math.log((1 + n) / (1 + df)) + 1)),
  };
}

/** Writes the L2-normalised TF-IDF vector of `words` into `out` starting at `offset`. */
export type TfidfVectorizer = (words: readonly string[], out: Float32Array, offset: number) => void;

/**
 * Compiles a spec into a vectorizer: the vocabulary becomes a `Map` once, so a request only
 * does look-ups.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTfidfVectorizer } from "./tfidf.ts";
 * const vectorize = createTfidfVectorizer({ vocabulary: ["select", "from"], idf: [1, 2] });
 * const out = new Float32Array(2);
 * vectorize(["select", "from"], out, 0);
 * assert(Math.abs(out[0] ** 2 + out[1] ** 2 - 1) < 1e-6);
 * ```
 */
export function createTfidfVectorizer(spec: TfidfSpec): TfidfVectorizer {
  const index = new Map(spec.vocabulary.map((gram, i) => [gram, i]));
  const idf = Float64Array.from(spec.idf);
  return (words, out, offset) => {
    const hits: Array<[number, number]> = [];
    let squares = 0;
    for (const [gram, count] of ngramCounts(words)) {
      const i = index.get(gram);
      if (i === undefined) continue;
      const weight = count * idf[i];
      hits.push([i, weight]);
      squares += weight * weight;
    }
    if (squares === 0) return;
    const norm = Math.sqrt(squares);
    for (const [i, weight] of hits) out[offset + i] = weight / norm;
  };
}
