/**
 * Added latency of the Envoy → router (ext_authz) hop on `POST /v1/statement`: the same Envoy
 * config with the ext_authz call and without it (static route), at a fixed open-loop rate,
 * against a stub Trino; prints p50/p90/p99 of both and their difference.
 *
 *   node_modules/.bin/deno run --allow-all bench/envoy_latency.ts [--rate 270] [--seconds 20]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { EnvoyProcess } from "../tools/harness/envoy_process.ts";
import { ENVOY_TEMPLATE_PATH } from "../deploy/envoy/render.ts";
import { freeLoopbackPort } from "../tools/harness/local_process.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rate: { type: "string", default: "270" },
    seconds: { type: "string", default: "20" },
    warmup: { type: "string", default: "3" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const REPO = new URL("../", import.meta.url).pathname;
const DENO = `${REPO}node_modules/.bin/deno`;

/** A stub Trino answering the submission with a fixed first page; its own process. */
const STUB = `Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} },
  async (r) => { await r.arrayBuffer();
    return Response.json({ id: "q", nextUri: "http://x/v1/statement/queued/q/y/1",
      stats: { state: "QUEUED" } }); });`;

async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await (await fetch(url)).body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

function spawn(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(DENO, { args, env, stdout: "null", stderr: "null", stdin: "null" })
    .spawn();
}

/** The production template, with ext_authz switched off on the one route that uses it. */
async function staticTemplate(): Promise<string> {
  const template = await Deno.readTextFile(ENVOY_TEMPLATE_PATH);
  const marker = "                        - name: statement-default-large\n";
  const start = template.indexOf(marker);
  const prefix = "                          request_headers_to_add: *large_prefix\n";
  const at = template.indexOf(prefix, start) + prefix.length;
  if (start < 0 || at < prefix.length) throw new Error("envoy.yaml changed: update the bench");
  return template.slice(0, at) +
    "                          typed_per_filter_config: { envoy.filters.http.ext_authz: *authz_disabled }\n" +
    template.slice(at);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p / 100 * sorted.length))];
}

/** Open loop: request i leaves at start + i/rate whatever the previous ones are doing. */
async function load(url: string, seconds: number): Promise<number[]> {
  const total = Math.round(RATE * seconds);
  const latencies: number[] = [];
  const inflight: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * 1000 / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    // Distinct SQL per request: no decision-cache hits, every query is featurized and scored.
    const sql = `SELECT o.orderkey, o.totalprice FROM orders o WHERE o.custkey = ${i} LIMIT 10`;
    inflight.push((async () => {
      const sent = performance.now();
      const response = await fetch(`${url}/v1/statement`, {
        method: "POST",
        headers: { "X-Trino-User": "bench", "X-Trino-Source": "bench", "X-Trino-Catalog": "tpch" },
        body: sql,
      });
      await response.arrayBuffer();
      latencies.push(performance.now() - sent);
    })());
  }
  await Promise.all(inflight);
  return latencies.sort((a, b) => a - b);
}

const routerPort = freeLoopbackPort();
const stubPort = freeLoopbackPort();
// The router as deployed (its entry point's permissions, allocator and V8 settings) with the
// bundled model: the hop measured is the one a user gets.
const router = new Deno.Command("bash", {
  args: [`${REPO}deploy/serve.sh`],
  env: { PORT: String(routerPort), HOST: "127.0.0.1", DENO },
  stdout: "null",
  stderr: "null",
  stdin: "null",
}).spawn();
const stub = spawn(["eval", STUB, String(stubPort)]);
const envoys: EnvoyProcess[] = [];
try {
  await waitFor(`http://127.0.0.1:${routerPort}/readyz`);
  await waitFor(`http://127.0.0.1:${stubPort}/`);
  const backends = {
    router: { host: "127.0.0.1", port: routerPort },
    small: { host: "127.0.0.1", port: stubPort },
    large: { host: "127.0.0.1", port: stubPort },
  };
  const withRouter = await EnvoyProcess.start(backends);
  envoys.push(withRouter);
  const statik = await EnvoyProcess.start({ ...backends, template: await staticTemplate() });
  envoys.push(statik);

  const results: Record<string, number[]> = {};
  for (const [name, envoy] of [["static", statik], ["ext_authz", withRouter]] as const) {
    await load(envoy.url, WARMUP);
    results[name] = await load(envoy.url, SECONDS);
  }
  const authzCalls = await withRouter.stat("http.trino.ext_authz.ok");
  const fallbacks = await withRouter.stat("http.trino.ext_authz.failure_mode_allowed");
  console.log(
    `POST /v1/statement at ${RATE} req/s for ${SECONDS} s (open loop), stub Trino, ` +
      `router = bundled model (deploy/serve.sh), Envoy ${(await new Deno.Command(
        (await import("../tools/harness/envoy_process.ts")).envoyBinary(),
        { args: ["--version"] },
      ).output().then((o) =>
        new TextDecoder().decode(o.stdout).match(/\/(\d+\.\d+\.\d+)\//)?.[1]
      ))}`,
  );
  console.log("config       n      p50 ms  p90 ms  p99 ms  max ms");
  for (const [name, sorted] of Object.entries(results)) {
    console.log(
      `${name.padEnd(10)} ${String(sorted.length).padStart(6)}  ` +
        [50, 90, 99].map((p) => percentile(sorted, p).toFixed(2).padStart(6)).join("  ") +
        `  ${sorted.at(-1)!.toFixed(2).padStart(6)}`,
    );
  }
  for (const p of [50, 99]) {
    const added = percentile(results.ext_authz, p) - percentile(results.static, p);
    console.log(`added p${p}: ${added.toFixed(2)} ms`);
  }
  console.log("  target (issue 16): added p99 ≤ 1 ms at 270 req/s");
  console.log(`ext_authz ok=${authzCalls} failure_mode_allowed=${fallbacks}`);
} finally {
  for (const envoy of envoys) await envoy.stop();
  for (const child of [router, stub]) {
    child.kill("SIGTERM");
    await child.status;
  }
}
