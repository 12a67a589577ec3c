/**
 * `POST /v1/route` over HTTP on loopback: the service runs as its own process (as deployed),
 * this process is the load generator. Closed loop at 32 connections (throughput), open loop at
 * the design's 270 requests/s (latency), then the server's resident memory. Prints numbers.
 *
 * @module
 */

import { benchRequest, percentile } from "./_queries.ts";

const PORT = 18_000 + Math.floor(Math.random() * 1000);
const BASE = `http://127.0.0.1:${PORT}`;
const DURATION_MS = Number(Deno.env.get("BENCH_SECONDS") ?? 10) * 1000;

const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    ...(Deno.env.get("BENCH_V8_FLAGS") ? [`--v8-flags=${Deno.env.get("BENCH_V8_FLAGS")}`] : []),
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-run",
    "src/main.ts",
  ],
  env: { PORT: String(PORT), HOST: "127.0.0.1" },
  stdout: "null",
  stderr: "null",
}).spawn();

async function waitReady() {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${BASE}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not become ready");
}

let sequence = 0;
async function oneRequest(): Promise<number> {
  const request = benchRequest(sequence++);
  const started = performance.now();
  const response = await fetch(`${BASE}/v1/route`, {
    method: "POST",
    body: JSON.stringify(request),
  });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`status ${response.status}`);
  return performance.now() - started;
}

function report(label: string, times: number[], elapsedMs: number) {
  times.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(34)} ${(times.length / (elapsedMs / 1000)).toFixed(0).padStart(6)} req/s  p50 ${
      percentile(times, 50).toFixed(2)
    } ms  p99 ${percentile(times, 99).toFixed(2)} ms  (n=${times.length})`,
  );
}

async function closedLoop(connections: number) {
  const times: number[] = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() - started < DURATION_MS) times.push(await oneRequest());
  }));
  report(`closed loop, ${connections} connections`, times, performance.now() - started);
}

async function openLoop(rate: number) {
  const times: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  const total = Math.floor((rate * DURATION_MS) / 1000);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(oneRequest().then((ms) => void times.push(ms)));
  }
  await Promise.all(pending);
  report(`open loop, ${rate} req/s`, times, performance.now() - started);
}

function residentMegabytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

try {
  await waitReady();
  const model = (await (await fetch(`${BASE}/v1/models`)).json()).defaultVersion;
  console.log(`model ${model}; ${DURATION_MS / 1000} s per run; every request a cache miss`);
  await closedLoop(4); // warm-up, not reported separately
  await closedLoop(32);
  await openLoop(270);
  console.log(`server resident memory ${residentMegabytes(server.pid).toFixed(0)} MB`);
} finally {
  server.kill("SIGTERM");
  await server.status;
}
