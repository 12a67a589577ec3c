/**
 * Measures what the ext_proc filter adds to queries that do not fail: the same stub workload through Envoy with deploy/envoy/envoy.yaml without its EXT_PROC sections and with them, sequential queries, per-request latency percentiles.
 *
 * Run: node_modules/.bin/deno run --allow-all test/e2e/ext_proc_overhead_bench.ts [queries]
 *
 * @module
 */

import { EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import { startRetryStack, startStubAuthz } from "../integration/ext_proc_envoy.ts";
import { startStubTrino } from "../integration/ext_proc_stub_trino.ts";

const queries = Number(Deno.args[0] ?? 300);
const small = startStubTrino({ name: "small", behaviour: "rows", rowCount: 12 });
const large = startStubTrino({ name: "large", behaviour: "rows" });
const loopback = (port: number) => ({ host: "127.0.0.1", port });

async function measure(baseUrl: string): Promise<{ requests: number[]; queriesMs: number[] }> {
  const requests: number[] = [];
  const queriesMs: number[] = [];
  for (let i = 0; i < queries; i++) {
    const started = performance.now();
    let t = performance.now();
    let response = await fetch(`${baseUrl}/v1/statement`, {
      method: "POST",
      body: `SELECT n FROM t WHERE x = ${i}`,
      headers: { "x-trino-user": "bench" },
    });
    for (;;) {
      const doc = await response.json();
      requests.push(performance.now() - t);
      if (typeof doc.nextUri !== "string") break;
      t = performance.now();
      response = await fetch(doc.nextUri);
    }
    queriesMs.push(performance.now() - started);
  }
  return { requests, queriesMs };
}

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const summary = (name: string, r: { requests: number[]; queriesMs: number[] }) =>
  console.log(
    `${name}: ${r.requests.length} requests, per request p50 ${pct(r.requests, 50).toFixed(2)} ms` +
      ` p99 ${pct(r.requests, 99).toFixed(2)} ms; per query (POST + 3 pages) p50 ${
        pct(r.queriesMs, 50).toFixed(2)
      } ms`,
  );

const authz = startStubAuthz("small");
const plain = await EnvoyProcess.start({
  router: loopback(authz.port),
  small: loopback(small.port),
  large: loopback(large.port),
});
const retry = await startRetryStack({ small: loopback(small.port), large: loopback(large.port) });
try {
  await measure(plain.url); // warm-up of both paths
  await measure(retry.envoy.url);
  summary("envoy.yaml (ext_authz only)      ", await measure(plain.url));
  summary("envoy.yaml + EXT_PROC sections     ", await measure(retry.envoy.url));
} finally {
  await plain.stop();
  await retry.stop();
  await authz.close();
  await small.close();
  await large.close();
}
