/**
 * `POST /v1/route` over HTTP on loopback: the service runs as its own process(es), as deployed;
 * this process is the load generator. Request mix: the labeled log's reads ≤ 4 KB, every SQL new
 * (`_queries.ts`). Closed loop at 32 connections with templates warm and with every template
 * new, open loop at the design's 270 requests/s, then the server's resident memory (all its
 * processes). Prints numbers.
 *
 * Environment: `BENCH_SECONDS` (per run, default 10); `BENCH_SERVER_CPUS` (pin the server with
 * `taskset -c`, e.g. `0`; pin this generator by starting it under `taskset -c 1`);
 * `BENCH_WORKERS` (server processes; more than 1 starts a local Redis for their shared state;
 * `BENCH_REDIS=1` gives a single process one too);
 * `BENCH_MEMORY_REQUESTS` (send that many more warm requests, then report memory again, e.g.
 * 1000000); `BENCH_V8_FLAGS` (instead of `deploy/serve.sh`'s); `BENCH_TARGET=seed`: measure the seed-style FastAPI + sqlglot +
 * onnxruntime service (`bench/seed_service`, same model file) instead of the router.
 *
 * @module
 */

import { freeLoopbackPort } from "../tools/harness/local_process.ts";
import { RedisServer } from "../test/integration/_redis_server.ts";
import { benchRequest, type Mix, percentile } from "./_queries.ts";
import { Http1Connection, waitReady } from "./_http1.ts";

const PORT = freeLoopbackPort();
const BASE = `http://127.0.0.1:${PORT}`;
const env = (name: string) => Deno.env.get(name);
const DURATION_MS = Number(env("BENCH_SECONDS") ?? 10) * 1000;
const WORKERS = Number(env("BENCH_WORKERS") ?? 1);
const CPUS = env("BENCH_SERVER_CPUS");
const MEMORY_REQUESTS = Number(env("BENCH_MEMORY_REQUESTS") ?? 0);

const SEED = env("BENCH_TARGET") === "seed";
// Several processes share state through Redis; `BENCH_REDIS=1` gives one process the same store,
// so that a scaling ratio compares like with like.
const redis = (WORKERS > 1 || env("BENCH_REDIS") === "1") && !SEED
  ? await RedisServer.start()
  : undefined;
const modelDir = `models/${Deno.readTextFileSync("models/DEFAULT").trim()}`;
const [command, ...args] = SEED
  ? [
    "bench/seed_service/.venv/bin/uvicorn",
    "app:app",
    "--app-dir",
    "bench/seed_service",
    "--host",
    "127.0.0.1",
    "--port",
    String(PORT),
    "--log-level",
    "warning",
  ]
  // The router as deployed: its entry point's permissions, allocator and V8 settings.
  : ["bash", "deploy/serve.sh"];
const server = new Deno.Command(CPUS ? "taskset" : command, {
  args: CPUS ? ["-c", CPUS, command, ...args] : args,
  env: {
    PORT: String(PORT),
    HOST: "127.0.0.1",
    WORKERS: String(WORKERS),
    MODEL_DIR: modelDir,
    DENO: Deno.execPath(),
    ...(env("BENCH_V8_FLAGS") ? { DENO_V8_FLAGS: env("BENCH_V8_FLAGS")! } : {}),
    ...(redis ? { REDIS_URL: redis.url } : {}),
  },
  stdout: "null",
  stderr: "null",
}).spawn();

/** Keep-alive connections not in use (a closed loop of N keeps N of them busy). */
const idle: Http1Connection[] = [];

let sequence = 0;
async function oneRequest(mix: Mix): Promise<number> {
  const body = JSON.stringify(benchRequest(sequence++, mix));
  const connection = idle.pop() ?? await Http1Connection.open("127.0.0.1", PORT);
  const started = performance.now();
  const response = await connection.post("/v1/route", body);
  const elapsed = performance.now() - started;
  idle.push(connection);
  if (response.status !== 200) throw new Error(`status ${response.status}`);
  const { reason } = JSON.parse(response.body);
  reasons[reason] = (reasons[reason] ?? 0) + 1;
  return elapsed;
}

/** Decisions by reason in the current run: how many cold parses missed their budget. */
let reasons: Record<string, number> = {};

/**
 * CPU seconds the server's processes (every thread) have used: with the CPU time per request,
 * a run says what the server costs whether or not the generator kept it busy.
 */
function serverCpuSeconds(): number {
  let ticks = 0;
  for (const pid of processTree(server.pid)) {
    try {
      // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
      const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ
}

let cpuAtStart = 0;
let redisCpuAtStart = 0;

/** CPU seconds the bench's Redis has used (`INFO cpu`), 0 without one: a cost of the store. */
async function redisCpuSeconds(): Promise<number> {
  if (!redis) return 0;
  const connection = await Deno.connect({ hostname: "127.0.0.1", port: redis.port });
  try {
    await connection.write(new TextEncoder().encode("INFO cpu\r\n"));
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!/used_cpu_user:[\d.]+\r\n/.test(text)) {
      const n = await connection.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)?.[1] ?? 0);
    return field("used_cpu_sys") + field("used_cpu_user");
  } finally {
    connection.close();
  }
}

async function report(label: string, times: number[], elapsedMs: number) {
  times.sort((a, b) => a - b);
  const cpuSeconds = serverCpuSeconds() - cpuAtStart;
  const cpuMicros = cpuSeconds * 1e6 / times.length;
  const redisMicros = ((await redisCpuSeconds()) - redisCpuAtStart) * 1e6 / times.length;
  console.log(
    `${label.padEnd(44)} ${(times.length / (elapsedMs / 1000)).toFixed(0).padStart(6)} req/s  p50 ${
      percentile(times, 50).toFixed(2)
    } ms  p99 ${percentile(times, 99).toFixed(2)} ms  server CPU ${
      cpuMicros.toFixed(0)
    } µs/req on ${(cpuSeconds / (elapsedMs / 1000)).toFixed(2)} cores${
      redis ? ` + Redis ${redisMicros.toFixed(0)} µs/req` : ""
    }  (n=${times.length}) ${JSON.stringify(reasons)}`,
  );
  reasons = {};
}

async function closedLoop(connections: number, mix: Mix, label: string, requests = Infinity) {
  const times: number[] = [];
  cpuAtStart = serverCpuSeconds();
  redisCpuAtStart = await redisCpuSeconds();
  const started = performance.now();
  let sent = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() - started < DURATION_MS || requests < Infinity) {
      if (sent++ >= requests) break;
      times.push(await oneRequest(mix));
    }
  }));
  await report(label, times, performance.now() - started);
}

async function openLoop(rate: number) {
  const times: number[] = [];
  const pending: Promise<void>[] = [];
  cpuAtStart = serverCpuSeconds();
  redisCpuAtStart = await redisCpuSeconds();
  const started = performance.now();
  const total = Math.floor((rate * DURATION_MS) / 1000);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(oneRequest("warm").then((ms) => void times.push(ms)));
  }
  await Promise.all(pending);
  await report(`open loop, ${rate} req/s, templates warm`, times, performance.now() - started);
}

/** The pids of a process and all its descendants. */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    children = text === "" ? [] : text.split(/\s+/).map(Number);
  } catch {
    // gone
  }
  return [pid, ...children.flatMap(processTree)];
}

function residentMegabytes(root: number): number {
  let kb = 0;
  for (const pid of processTree(root)) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

/** The router's V8 heap and external memory (its `/metrics`), beside the resident total. */
async function heapSummary(): Promise<string> {
  if (SEED) return "";
  const text = await (await fetch(`${BASE}/metrics`)).text();
  const mb = (name: string) =>
    (Number(new RegExp(`^trino_router_${name} (\\S+)$`, "m").exec(text)?.[1]) / 2 ** 20)
      .toFixed(0);
  return ` (main isolate: V8 heap ${mb("nodejs_heap_size_used_bytes")} MB used of ${
    mb("nodejs_heap_size_total_bytes")
  }, external ${mb("nodejs_external_memory_bytes")} MB)`;
}

try {
  await waitReady(BASE);
  if (WORKERS > 1) await new Promise((r) => setTimeout(r, 5_000)); // every worker listening
  const model = (await (await fetch(`${BASE}/v1/models`)).json()).defaultVersion;
  console.log(
    `model ${model}; ${DURATION_MS / 1000} s per run; server ${WORKERS} process(es)${
      CPUS ? ` on CPU ${CPUS}` : ""
    }; every request's SQL new`,
  );
  await closedLoop(4, "warm", "warm-up"); // also fills the CST cache with the log's templates
  await closedLoop(32, "warm", "closed loop, 32 connections, templates warm");
  console.log("  target (issue 16, one server core): ≥ 8,000 req/s, p99 ≤ 10 ms");
  await closedLoop(32, "cold", "closed loop, 32 connections, every template new");
  console.log("  target (issue 16, one server core): ≥ 2,000 req/s, p99 ≤ 25 ms");
  await openLoop(270);
  console.log("  target (issue 16): p99 ≤ 1 ms; resident memory ≤ 150 MB after 1,000,000 requests");
  console.log(
    `server resident memory ${residentMegabytes(server.pid).toFixed(0)} MB${await heapSummary()}`,
  );
  if (MEMORY_REQUESTS > 0) {
    await closedLoop(32, "warm", `${MEMORY_REQUESTS} more requests`, MEMORY_REQUESTS);
    await openLoop(270);
    console.log(
      `server resident memory after ${sequence} requests ${
        residentMegabytes(server.pid).toFixed(0)
      } MB${await heapSummary()}`,
    );
  }
} finally {
  for (const connection of idle) connection.close();
  server.kill("SIGTERM");
  await server.status;
  await redis?.stop();
}
