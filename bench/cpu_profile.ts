/**
 * Where the server's CPU goes under load: starts the router with the V8 inspector on loopback,
 * drives `POST /v1/route` at 32 connections (the warm mix, or `BENCH_MIX=cold`), samples the
 * server's main thread with the inspector's profiler, and prints the functions by self time and
 * the source files by self time. The profile is written for Chrome DevTools too
 * (`BENCH_PROFILE_OUT`, default `/tmp/router.cpuprofile`). `BENCH_REDIS=1` gives the server a
 * local Redis as its store (what several workers share).
 *
 * ```sh
 * BENCH_SERVER_CPUS=0 taskset -c 1 node_modules/.bin/deno run -A bench/cpu_profile.ts
 * ```
 *
 * @module
 */

import { freeLoopbackPort } from "../tools/harness/local_process.ts";
import { RedisServer } from "../test/integration/_redis_server.ts";
import { benchRequest, type Mix } from "./_queries.ts";
import { Http1Connection, waitReady } from "./_http1.ts";

const env = (name: string) => Deno.env.get(name);
const PORT = freeLoopbackPort();
const INSPECT_PORT = freeLoopbackPort();
const BASE = `http://127.0.0.1:${PORT}`;
const SECONDS = Number(env("BENCH_SECONDS") ?? 10);
const CPUS = env("BENCH_SERVER_CPUS");
const MIX = (env("BENCH_MIX") ?? "warm") as Mix;
const OUT = env("BENCH_PROFILE_OUT") ?? "/tmp/router.cpuprofile";
const redis = env("BENCH_REDIS") === "1" ? await RedisServer.start() : undefined;

const args = [
  Deno.execPath(),
  "run",
  `--inspect=127.0.0.1:${INSPECT_PORT}`,
  "--allow-all",
  "src/main.ts",
];
const server = new Deno.Command(CPUS ? "taskset" : args[0], {
  args: CPUS ? ["-c", CPUS, ...args] : args.slice(1),
  env: {
    PORT: String(PORT),
    HOST: "127.0.0.1",
    WORKERS: "1",
    MODEL_DIR: `models/${Deno.readTextFileSync("models/DEFAULT").trim()}`,
    ...(redis ? { REDIS_URL: redis.url } : {}),
  },
  stdout: "null",
  stderr: "null",
}).spawn();

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A minimal inspector client: one request at a time is all this needs. */
async function inspector(): Promise<(method: string, params?: object) => Promise<unknown>> {
  const targets = await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json/list`)).json();
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    waiting.get(message.id)?.(message.result);
    waiting.delete(message.id);
  };
  return (method, params = {}) =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
}

let sequence = 0;
async function load(connections: number, seconds: number, mix: Mix): Promise<number> {
  const started = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    // The keep-alive client of http_load.ts: with `fetch` this process, not the server, was the
    // limit, and the profile was mostly idle time.
    const connection = await Http1Connection.open("127.0.0.1", PORT);
    while (performance.now() - started < seconds * 1000) {
      await connection.post("/v1/route", JSON.stringify(benchRequest(sequence++, mix)));
      done++;
    }
    connection.close();
  }));
  return done / ((performance.now() - started) / 1000);
}

function summarize(profile: Profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + profile.timeDeltas[i]));
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, micros] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(/^.*\/(node_modules|src|ext:)/, "$1") || "(native)";
    const name = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    byFile.set(file, (byFile.get(file) ?? 0) + micros);
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
      .map(([name, micros]) => `  ${(100 * micros / total).toFixed(1).padStart(5)} %  ${name}`)
      .join("\n");
  console.log(`self time by function (top 40):\n${top(byFunction, 40)}`);
  console.log(`self time by file (top 25):\n${top(byFile, 25)}`);
}

try {
  await waitReady(BASE);
  await load(4, 5, "warm"); // JIT and the CST cache, as in http_load.ts
  const send = await inspector();
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  const rate = await load(32, SECONDS, MIX);
  const { profile } = await send("Profiler.stop") as { profile: Profile };
  await Deno.writeTextFile(OUT, JSON.stringify(profile));
  console.log(`${MIX} mix, 32 connections, ${rate.toFixed(0)} req/s while profiled; ${OUT}`);
  summarize(profile);
} finally {
  server.kill("SIGTERM");
  await server.status;
  await redis?.stop();
}
