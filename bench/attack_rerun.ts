/**
 * Re-runs the attack and fault cases of issue 10 against the real router process on loopback and
 * prints what happened (counts and sizes, not pass/fail: the tests assert the behaviour).
 *
 * ```sh
 * deno run -A bench/attack_rerun.ts [--events 400000] [--case idle]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { freeLoopbackPort } from "../tools/harness/local_process.ts";
import { completedEvent, routeBodyFor } from "../test/unit/_feedback_events.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    events: { type: "string", default: "400000" },
    // `idle`: only the idle-connection case.
    case: { type: "string", default: "all" },
  },
});
const ROOT = new URL("../", import.meta.url).pathname;
const TOKEN = "attack-rerun-token";
const port = freeLoopbackPort();
const base = `http://127.0.0.1:${port}`;
const auth = { authorization: `Bearer ${TOKEN}` };

const child = new Deno.Command("bash", {
  args: ["-c", `ulimit -n 1024 && exec ${ROOT}node_modules/.bin/deno run -A src/main.ts`],
  cwd: ROOT,
  env: {
    PORT: String(port),
    ROUTER_ADMIN_TOKEN: TOKEN,
    MODELS_DIR: `${ROOT}test/fixtures/models`,
    SMALL_CLUSTER: "small.test:8080",
    LARGE_CLUSTER: "large.test:8080",
  },
  stdout: "null",
  stderr: "null",
}).spawn();
let alive = true;
child.status.then(() => alive = false);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function get(path: string): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, text: await response.text() };
  } catch {
    return { status: 0, text: "" };
  }
}
const rss = async () => {
  const match = /trino_router_memory_rss_bytes (\d+)/.exec((await get("/metrics")).text);
  return match ? Number(match[1]) : Number.NaN;
};
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** Ends the run early (`--case`). */
class Finished extends Error {}

/** An idle connection and when the router closed it (ms after opening). */
interface Held {
  readonly conn: Deno.Conn;
  readonly kind: number;
  closedAfterMs?: number;
}

async function idleConnections() {
  const kinds = [undefined, "GET /heal", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"];
  const held: Held[] = [];
  const rssBefore = await rss();
  for (let i = 0; i < 1_100; i++) {
    let conn: Deno.Conn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      continue;
    }
    const h: Held = { conn, kind: i % 3 };
    const opened = performance.now();
    const send = kinds[h.kind];
    if (send) await conn.write(new TextEncoder().encode(send)).catch(() => 0);
    held.push(h);
    (async () => {
      const buffer = new Uint8Array(1024);
      try {
        while (await conn.read(buffer) !== null) { /* answers, then the close */ }
      } catch { /* reset: closed too */ }
      h.closedAfterMs = performance.now() - opened;
    })();
  }
  await sleep(1_000);
  const open = () => held.filter((h) => h.closedAfterMs === undefined).length;
  const heldOpen = open();
  // Other clients meanwhile: 50 requests, each on a new connection.
  const latencies: number[] = [];
  let answered = 0;
  for (let i = 0; i < 50; i++) {
    const started = performance.now();
    if ((await get("/healthz")).status === 200) answered++;
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  const rssDuring = await rss();
  const shedBy: number[] = [Number.NaN, Number.NaN, Number.NaN];
  const started = performance.now();
  while (open() > 0 && performance.now() - started < 120_000) await sleep(500);
  for (const kind of [0, 1, 2]) {
    const times = held.filter((h) => h.kind === kind && h.closedAfterMs !== undefined)
      .map((h) => h.closedAfterMs!);
    shedBy[kind] = Math.max(...times);
  }
  for (const h of held) {
    try {
      h.conn.close();
    } catch { /* closed */ }
  }
  console.log(
    `idle connections: ${held.length} opened, ${heldOpen} held open by the router (the rest ` +
      `closed at the cap); other clients: ${answered}/50 answered, p50 ` +
      `${latencies[25].toFixed(1)} ms, max ${latencies[49].toFixed(1)} ms; all shed after ` +
      `${(shedBy[0] / 1000).toFixed(1)} s (silent), ${(shedBy[1] / 1000).toFixed(1)} s ` +
      `(half a request line), ${(shedBy[2] / 1000).toFixed(1)} s (keep-alive); still open: ` +
      `${open()}; RSS ${mib(rssBefore)} → ${mib(rssDuring)} → ${mib(await rss())}; process ` +
      `alive: ${alive}`,
  );
}

try {
  for (let i = 0; i < 150 && (await get("/healthz")).status !== 200; i++) await sleep(200);
  console.log(`router on ${base}, fd limit 1024, RSS ${mib(await rss())}`);

  // 1. The customer's probe: 1,100 idle connections at a 1,024 descriptor limit, a third saying
  // nothing, a third sending half a request line, a third idling on keep-alive after a request.
  await idleConnections();
  if (values.case === "idle") throw new Finished();

  // 2. Forged events: no token, then with the token but for queries the router never decided.
  const sql = "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'";
  const route = async () =>
    await (await fetch(`${base}/v1/route`, {
      method: "POST",
      body: routeBodyFor(sql),
    })).json();
  const before = (await route()).targetCluster;
  const statuses: Record<string, number> = {};
  for (let i = 0; i < 80; i++) {
    const forged = completedEvent({
      queryId: `20250811_000000_${String(i).padStart(5, "0")}_forge`,
      sql: `${sql} -- ${i}`,
      cpuSeconds: i % 2 ? 900 : 0.1,
      error: i === 0 ? ["EXCEEDED_CPU_LIMIT", "INSUFFICIENT_RESOURCES"] : undefined,
    });
    for (const headers of [{}, auth]) {
      const response = await fetch(`${base}/v1/events/small`, {
        method: "POST",
        body: JSON.stringify(forged),
        headers,
      });
      await response.body?.cancel();
      const key = `${"authorization" in headers ? "token" : "anonymous"} ${response.status}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    }
  }
  await sleep(500);
  const metrics = (await get("/metrics")).text;
  const marks = /trino_router_template_cache_marks_total (\d+)/.exec(metrics)?.[1];
  const confusion = metrics.split("\n").filter((l) =>
    l.startsWith("trino_router_feedback_confusion_total{") && !l.endsWith(" 0")
  );
  console.log(
    `forged events: ${JSON.stringify(statuses)}; template marks ${marks}; ` +
      `non-zero confusion series ${confusion.length}; template of a forged failure: ` +
      `${before} → ${(await route()).targetCluster}`,
  );

  // 3. Distinct cluster names and environments in events.
  const total = Number(values.events);
  const sizeBefore = (await get("/metrics")).text.length;
  const started = performance.now();
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      const i = sent++;
      const event = completedEvent({ queryId: `q${i}`, environment: `env-${i}` });
      const response = await fetch(`${base}/v1/events/cluster-${i}`, {
        method: "POST",
        body: JSON.stringify(event),
        headers: auth,
      });
      await response.body?.cancel();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const scrapeStart = performance.now();
  const after = (await get("/metrics")).text;
  console.log(
    `${total} events with distinct cluster names in ${
      ((scrapeStart - started) / 1000).toFixed(0)
    } s: /metrics ${sizeBefore} → ${after.length} bytes, scrape ${
      (performance.now() - scrapeStart).toFixed(0)
    } ms; ${/rejected_events_total\{reason="unknown_cluster"\} (\d+)/.exec(after)?.[0]}`,
  );

  // 4. 300 concurrent 1 MiB routing requests, and 20 concurrent 30 MiB events.
  const rssBefore = await rss();
  const big = JSON.stringify({
    user: "alice",
    sqlText: `SELECT '${"x".repeat(1024 * 1024 - 100)}'`,
  });
  const routeStatuses: Record<number, number> = {};
  await Promise.all(Array.from({ length: 300 }, async () => {
    const response = await fetch(`${base}/v1/route`, { method: "POST", body: big });
    await response.body?.cancel();
    routeStatuses[response.status] = (routeStatuses[response.status] ?? 0) + 1;
  }));
  const rssRoutes = await rss();
  const hugeEvent = JSON.stringify({
    ...completedEvent({ queryId: "huge" }),
    padding: "p".repeat(30 * 1024 * 1024),
  });
  const eventStatuses: Record<number, number> = {};
  await Promise.all(Array.from({ length: 20 }, async () => {
    const response = await fetch(`${base}/v1/events/small`, {
      method: "POST",
      body: hugeEvent,
      headers: auth,
    });
    await response.body?.cancel();
    eventStatuses[response.status] = (eventStatuses[response.status] ?? 0) + 1;
  }));
  const rssEvents = await rss();
  const gateway = await fetch(`${base}/trino-gateway/route`, {
    method: "POST",
    body: new Uint8Array(100 * 1024 * 1024).fill(0x20),
  });
  const gatewayAnswer = await gateway.json();
  console.log(
    `300 × 1 MiB routes: ${JSON.stringify(routeStatuses)}, RSS ${mib(rssBefore)} → ${
      mib(rssRoutes)
    }; 20 × 30 MiB events: ${JSON.stringify(eventStatuses)}, RSS ${mib(rssEvents)}; ` +
      `100 MiB gateway body: ${gateway.status} ${gatewayAnswer.routingGroup}; RSS now ${
        mib(await rss())
      }`,
  );
} catch (error) {
  if (!(error instanceof Finished)) throw error;
} finally {
  if (alive) child.kill("SIGTERM");
  await child.status;
}
