import { createOnnxScorer } from "./src/model/onnx_scorer.ts";
const bytes = await Deno.readFile("/tmp/tiny.onnx");
const s = await createOnnxScorer(bytes, { file: "x", input: "features", output: "probabilities" });
const X = [new Float32Array(10).fill(0.1)];
console.log(await s.score(X));
const t0 = performance.now(); for (let i=0;i<5000;i++) await s.score(X); console.log((performance.now()-t0)/5000*1000, "us/run");
const r = await Promise.all([s.score(X), s.score(X), s.score([X[0], X[0]])]); console.log(r);
