/**
 * The tree ensemble inside a bundle's ONNX graph, read in TypeScript, and the tree-path (Saabas)
 * contributions of each feature to one decision: what `POST /v1/route?explain=true` answers. The
 * node values along a path are the cover-weighted means of the leaves below each node, exactly as
 * XGBoost's `pred_contribs(approx_contribs=True)` computes them; training checks the two agree.
 *
 * The ONNX file is decoded with a minimal protobuf reader (only the fields of `ModelProto` →
 * `GraphProto` → `NodeProto` → `AttributeProto` a `TreeEnsembleClassifier` needs): no dependency.
 *
 * @module
 */

/** One decoded tree; arrays are indexed by node id. */
export interface Tree {
  readonly feature: Int32Array;
  readonly threshold: Float32Array;
  /** 0 = leaf, else the ONNX branch mode (see `MODES`). */
  readonly mode: Uint8Array;
  readonly trueChild: Int32Array;
  readonly falseChild: Int32Array;
  readonly missingTrue: Uint8Array;
  /** Leaf weight (margin space); 0 for branches. */
  readonly weight: Float64Array;
}

/** A binary tree-ensemble classifier: margin = base + Σ leaf weights, score = sigmoid(margin). */
export interface TreeEnsemble {
  readonly trees: readonly Tree[];
  readonly base: number;
  /** `LOGISTIC` for XGBoost's binary:logistic, `NONE` when the margin is the score. */
  readonly postTransform: string;
}

const MODES: Record<string, number> = {
  LEAF: 0,
  BRANCH_LEQ: 1,
  BRANCH_LT: 2,
  BRANCH_GTE: 3,
  BRANCH_GT: 4,
  BRANCH_EQ: 5,
  BRANCH_NEQ: 6,
};

/** A graph that is not (or not only) a binary tree ensemble this module can read. */
export class TreeEnsembleError extends Error {
  override name = "TreeEnsembleError";
}

// --- protobuf wire format -------------------------------------------------------------------

class Reader {
  pos: number;
  constructor(readonly bytes: Uint8Array, start = 0, readonly end = bytes.length) {
    this.pos = start;
  }
  varint(): number {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new TreeEnsembleError("truncated varint");
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
    throw new TreeEnsembleError("varint too long");
  }
  /** Next field: its number, wire type and, for length-delimited fields, the payload range. */
  field(): { no: number; wire: number; start: number; stop: number; value: number } {
    const key = this.varint();
    const no = Math.floor(key / 8);
    const wire = key & 7;
    let start = this.pos;
    let stop = this.pos;
    let value = 0;
    if (wire === 0) value = this.varint();
    else if (wire === 1) stop = this.pos += 8;
    else if (wire === 5) stop = this.pos += 4;
    else if (wire === 2) {
      const length = this.varint();
      start = this.pos;
      stop = this.pos += length;
    } else throw new TreeEnsembleError(`unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new TreeEnsembleError("truncated field");
    return { no, wire, start, stop, value };
  }
}

type Attribute = { floats: number[]; ints: number[]; strings: string[] };

function readAttribute(bytes: Uint8Array, start: number, stop: number): [string, Attribute] {
  const r = new Reader(bytes, start, stop);
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const decoder = new TextDecoder();
  let name = "";
  const a: Attribute = { floats: [], ints: [], strings: [] };
  while (r.pos < stop) {
    const f = r.field();
    if (f.no === 1 && f.wire === 2) name = decoder.decode(bytes.subarray(f.start, f.stop));
    else if (f.no === 2 && f.wire === 5) a.floats.push(view.getFloat32(f.start, true));
    else if (f.no === 7 && f.wire === 5) a.floats.push(view.getFloat32(f.start, true));
    else if (f.no === 7 && f.wire === 2) {
      for (let p = f.start; p < f.stop; p += 4) a.floats.push(view.getFloat32(p, true));
    } else if ((f.no === 3 || f.no === 8) && f.wire === 0) a.ints.push(f.value);
    else if (f.no === 8 && f.wire === 2) {
      const packed = new Reader(bytes, f.start, f.stop);
      while (packed.pos < f.stop) a.ints.push(packed.varint());
    } else if ((f.no === 4 || f.no === 9) && f.wire === 2) {
      a.strings.push(decoder.decode(bytes.subarray(f.start, f.stop)));
    }
  }
  return [name, a];
}

/** The attributes of the first `TreeEnsembleClassifier` node of the graph. */
function treeEnsembleAttributes(bytes: Uint8Array): Map<string, Attribute> {
  const model = new Reader(bytes);
  while (model.pos < bytes.length) {
    const g = model.field();
    if (g.no !== 7 || g.wire !== 2) continue;
    const graph = new Reader(bytes, g.start, g.stop);
    while (graph.pos < g.stop) {
      const n = graph.field();
      if (n.no !== 1 || n.wire !== 2) continue;
      const node = new Reader(bytes, n.start, n.stop);
      let op = "";
      const attributes = new Map<string, Attribute>();
      while (node.pos < n.stop) {
        const f = node.field();
        if (f.no === 4 && f.wire === 2) {
          op = new TextDecoder().decode(bytes.subarray(f.start, f.stop));
        } else if (f.no === 5 && f.wire === 2) {
          const [name, value] = readAttribute(bytes, f.start, f.stop);
          attributes.set(name, value);
        }
      }
      if (op === "TreeEnsembleClassifier") return attributes;
    }
  }
  throw new TreeEnsembleError("the graph has no TreeEnsembleClassifier node");
}

/**
 * Decodes the tree ensemble of an ONNX graph exported by `training/export_onnx.py`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTreeEnsemble } from "./tree_ensemble.ts";
 * const onnx = new URL("../../test/fixtures/models/tiny-xgb/model.onnx", import.meta.url);
 * const ensemble = readTreeEnsemble(await Deno.readFile(onnx));
 * assert.equal(ensemble.trees.length, 8);
 * assert.equal(ensemble.postTransform, "LOGISTIC");
 * ```
 */
export function readTreeEnsemble(onnxBytes: Uint8Array): TreeEnsemble {
  const at = treeEnsembleAttributes(onnxBytes);
  const get = (name: string) => at.get(name) ?? { floats: [], ints: [], strings: [] };
  const treeIds = get("nodes_treeids").ints;
  const nodeIds = get("nodes_nodeids").ints;
  const features = get("nodes_featureids").ints;
  const values = get("nodes_values").floats;
  const modes = get("nodes_modes").strings;
  const trueIds = get("nodes_truenodeids").ints;
  const falseIds = get("nodes_falsenodeids").ints;
  const missing = get("nodes_missing_value_tracks_true").ints;
  const classIds = get("class_ids").ints;
  if (new Set(classIds).size > 1) {
    throw new TreeEnsembleError("more than one class column: not a binary XGBoost ensemble");
  }
  const count = treeIds.length;
  if (
    [nodeIds, features, values, modes, trueIds, falseIds].some((a) => a.length !== count) ||
    count === 0
  ) {
    throw new TreeEnsembleError("tree-ensemble node attributes differ in length");
  }
  const treeCount = Math.max(...treeIds) + 1;
  const sizes = new Array<number>(treeCount).fill(0);
  for (let k = 0; k < count; k++) sizes[treeIds[k]] = Math.max(sizes[treeIds[k]], nodeIds[k] + 1);
  const trees: Tree[] = sizes.map((n) => ({
    feature: new Int32Array(n),
    threshold: new Float32Array(n),
    mode: new Uint8Array(n),
    trueChild: new Int32Array(n),
    falseChild: new Int32Array(n),
    missingTrue: new Uint8Array(n),
    weight: new Float64Array(n),
  }));
  for (let k = 0; k < count; k++) {
    const t = trees[treeIds[k]];
    const id = nodeIds[k];
    const mode = MODES[modes[k]];
    if (mode === undefined) throw new TreeEnsembleError(`unknown node mode ${modes[k]}`);
    t.feature[id] = features[k];
    t.threshold[id] = values[k];
    t.mode[id] = mode;
    t.trueChild[id] = trueIds[k];
    t.falseChild[id] = falseIds[k];
    t.missingTrue[id] = missing[k] ?? 0;
  }
  const classTrees = get("class_treeids").ints;
  const classNodes = get("class_nodeids").ints;
  const weights = get("class_weights").floats;
  for (let k = 0; k < classTrees.length; k++) {
    trees[classTrees[k]].weight[classNodes[k]] += weights[k];
  }
  const base = get("base_values").floats[0] ?? 0;
  const postTransform = get("post_transform").strings[0] ?? "NONE";
  return { trees, base, postTransform };
}

function goesTrue(t: Tree, node: number, x: number): boolean {
  if (Number.isNaN(x)) return t.missingTrue[node] === 1;
  const v = t.threshold[node];
  switch (t.mode[node]) {
    case 1:
      return x <= v;
    case 2:
      return x < v;
    case 3:
      return x >= v;
    case 4:
      return x > v;
    case 5:
      return x === v;
    default:
      return x !== v;
  }
}

/** The leaf a vector reaches in one tree, and the nodes on the way (root first). */
function path(t: Tree, vector: Float32Array): number[] {
  const nodes = [0];
  let node = 0;
  // A malformed tree could loop; a path can never be longer than the tree.
  for (let steps = 0; t.mode[node] !== 0 && steps < t.mode.length; steps++) {
    node = goesTrue(t, node, vector[t.feature[node]]) ? t.trueChild[node] : t.falseChild[node];
    nodes.push(node);
  }
  return nodes;
}

/**
 * The ensemble's margin for one vector (before the logistic transform).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createOnnxScorer } from "./onnx_scorer.ts";
 * import { ensembleMargin, readTreeEnsemble } from "./tree_ensemble.ts";
 * const onnx = await Deno.readFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/model.onnx", import.meta.url),
 * );
 * const { features } = JSON.parse(await Deno.readTextFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/manifest.json", import.meta.url),
 * ));
 * const vector = new Float32Array(features.length).fill(1);
 * const p = 1 / (1 + Math.exp(-ensembleMargin(readTreeEnsemble(onnx), vector)));
 * // The same score as onnxruntime's, up to float32 rounding.
 * const scorer = await createOnnxScorer(onnx, { file: "model.onnx", input: "features", output: "probabilities" });
 * const [score] = await scorer.score([vector]);
 * await scorer.close();
 * assert.ok(Math.abs(p - score) < 1e-6);
 * ```
 */
export function ensembleMargin(ensemble: TreeEnsemble, vector: Float32Array): number {
  let margin = ensemble.base;
  for (const t of ensemble.trees) margin += t.weight[path(t, vector).at(-1)!];
  return margin;
}

/**
 * Mean leaf value under every node, weighted by the training cover (hessian sum) of each node.
 * `covers[tree][node]` as XGBoost's dump reports it.
 */
export function nodeMeans(
  ensemble: TreeEnsemble,
  covers: readonly (readonly number[])[],
): Float64Array[] {
  if (covers.length !== ensemble.trees.length) {
    throw new TreeEnsembleError(
      `covers for ${covers.length} trees, the ensemble has ${ensemble.trees.length}`,
    );
  }
  return ensemble.trees.map((t, i) => {
    const cover = covers[i];
    if (cover.length < t.mode.length) throw new TreeEnsembleError(`tree ${i}: too few covers`);
    const mean = new Float64Array(t.mode.length);
    // Children always have larger ids than their parent in XGBoost trees: one backward pass.
    for (let node = t.mode.length - 1; node >= 0; node--) {
      if (t.mode[node] === 0) mean[node] = t.weight[node];
      else {
        const a = t.trueChild[node];
        const b = t.falseChild[node];
        const total = cover[a] + cover[b];
        mean[node] = total > 0 ? (cover[a] * mean[a] + cover[b] * mean[b]) / total : 0;
      }
    }
    return mean;
  });
}

/**
 * Tree-path (Saabas) contributions of every feature to one vector's margin: along each tree's
 * path, the change of the node mean is credited to the feature split on. The last entry is the
 * bias (base + the root means); all entries sum to the margin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ensembleMargin, nodeMeans, pathContributions, readTreeEnsemble } from "./tree_ensemble.ts";
 * const ensemble = readTreeEnsemble(await Deno.readFile(
 *   new URL("../../test/fixtures/models/tiny-xgb/model.onnx", import.meta.url),
 * ));
 * const covers = ensemble.trees.map((t) => Array(t.mode.length).fill(1));
 * const vector = new Float32Array(93);
 * vector[0] = 5000;
 * const c = pathContributions(ensemble, nodeMeans(ensemble, covers), vector);
 * const sum = c.reduce((a, b) => a + b);
 * assert.ok(Math.abs(sum - ensembleMargin(ensemble, vector)) < 1e-9);
 * ```
 */
export function pathContributions(
  ensemble: TreeEnsemble,
  means: readonly Float64Array[],
  vector: Float32Array,
): Float64Array {
  const out = new Float64Array(vector.length + 1);
  out[vector.length] = ensemble.base;
  ensemble.trees.forEach((t, i) => {
    const mean = means[i];
    const nodes = path(t, vector);
    out[vector.length] += mean[0];
    for (let k = 1; k < nodes.length; k++) {
      out[t.feature[nodes[k - 1]]] += mean[nodes[k]] - mean[nodes[k - 1]];
    }
  });
  return out;
}
