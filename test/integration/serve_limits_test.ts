/**
 * The router under hostile load, on loopback: it outlives running out of file descriptors, sheds
 * idle and slow connections past its cap and after its timeouts, and request bodies in flight are
 * bounded across endpoints (each with its own safe "busy" answer).
 */
import assert from "node:assert/strict";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { createService, type Service } from "../../src/service.ts";
import { serveOptions } from "../../src/serve_options.ts";
import { serveHttp } from "../../src/server/http_listener.ts";
import { ADMIN_HEADERS, capturingLogger, TEST_CONFIG } from "../unit/_fixtures.ts";
import { completedEvent } from "../unit/_feedback_events.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** The router as its own process (`src/main.ts`) at a 256-descriptor limit. */
function routerProcess(port: number, env: Record<string, string>) {
  // 256 descriptors; 300 idle connections exhaust them (the same as 1,000 at 1,024).
  const child = new Deno.Command("bash", {
    args: ["-c", `ulimit -n 256 && exec ${ROOT}node_modules/.bin/deno run -A src/main.ts`],
    cwd: ROOT,
    env: { PORT: String(port), MODELS_DIR: `${ROOT}test/fixtures/models`, ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    get exited() {
      return exited;
    },
    async started() {
      for (let i = 0; i < 100 && !(await healthy(port)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(await healthy(port), "router started");
    },
    /** Sends SIGTERM; resolves true once it exited, false if it did not within `ms`. */
    async terminate(ms: number): Promise<boolean> {
      child.kill("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gone = await Promise.race([
        status.then(() => true),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
      ]);
      clearTimeout(timer);
      return gone;
    },
    /** Stops it; prints its output when `failed`. */
    async stop(failed: boolean) {
      if (!exited) child.kill("SIGTERM");
      await status;
      const [stdout, stderr] = await output;
      if (failed) console.error(stdout, stderr);
    },
  };
}

Deno.test({
  name: "the router outlives running out of file descriptors and serves again afterwards",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = await freeLoopbackPort();
    // A cap above the limit: descriptors run out before the cap bites.
    const router = routerProcess(port, { MAX_CONNECTIONS: "1000" });
    const idle: Deno.Conn[] = [];
    let back = false;
    let diedEarly = false;
    try {
      await router.started();
      for (let i = 0; i < 300; i++) {
        try {
          idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        } catch {
          // The backlog is full: enough connections are open.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      for (const conn of idle.splice(0)) conn.close();
      for (let i = 0; i < 50 && !back && !router.exited; i++) {
        back = await healthy(port);
        if (!back) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      diedEarly = router.exited;
      assert.equal(diedEarly, false, "the process must not die");
      assert.ok(back, "the router answers again once descriptors are free");
    } finally {
      for (const conn of idle) conn.close();
      await router.stop(diedEarly || !back);
    }
  },
});

/** An idle client connection, and when (and how) the server ended it. */
interface Watched {
  readonly openedAt: number;
  /** ms after opening the server closed it; undefined while open. */
  closedAfterMs?: number;
  /** The first line the server sent, if any (`HTTP/1.1 408 Request Timeout`). */
  firstLine?: string;
  readonly conn: Deno.Conn;
}

/** Opens a connection, sends `send` (if any), and notes when the server closes it. */
async function watched(port: number, send?: string): Promise<Watched> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const w: Watched = { openedAt: performance.now(), conn };
  if (send) await conn.write(new TextEncoder().encode(send));
  (async () => {
    const buffer = new Uint8Array(4096);
    let text = "";
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += new TextDecoder().decode(buffer.subarray(0, n));
        // A keep-alive client reads its answer, then stays.
        if (send?.endsWith("\r\n\r\n") && text.includes("\r\n\r\n")) {
          w.firstLine ??= text.split("\r\n")[0];
          text = "";
        }
      }
    } catch {
      // reset by the server: closed as well
    }
    w.firstLine ??= text.split("\r\n")[0] || undefined;
    w.closedAfterMs = performance.now() - w.openedAt;
  })();
  return w;
}

Deno.test({
  name: "300 idle, half-sent and keep-alive connections against a cap of 150 at a 256-descriptor " +
    "limit: capped, shed after the timeouts, other clients answered throughout",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = await freeLoopbackPort();
    const timeoutMs = 4_000;
    const cap = 150;
    const router = routerProcess(port, {
      MAX_CONNECTIONS: String(cap),
      HEADER_TIMEOUT_MS: String(timeoutMs),
      IDLE_TIMEOUT_MS: String(timeoutMs),
    });
    const all: Watched[] = [];
    let ok = false;
    try {
      await router.started();
      const kinds = [
        undefined, // opens and says nothing
        "GET /heal", // half a request line, then stops
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", // a whole request, then idles on keep-alive
      ];
      for (let i = 0; i < 300; i++) {
        all.push(await watched(port, kinds[i % 3]));
        // (a) other clients are answered while the connections pile up.
        if (i % 50 === 49) assert.ok(await healthy(port), `answering with ${i + 1} idle`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      // (c) past the cap, the longest-idle connections were closed to admit new ones: never more
      // than the cap open (the health probes' connections took their turn too).
      const open = all.filter((w) => w.closedAfterMs === undefined).length;
      assert.ok(open <= cap, `${open} connections open, cap ${cap}`);
      assert.ok(open >= cap / 2, `${open} open: the cap, not a crash, closed the others`);
      assert.ok(await healthy(port), "answering at the cap");
      // (b) the rest are closed by the server after the timeout, and not before.
      const deadline = performance.now() + 30_000;
      while (all.some((w) => w.closedAfterMs === undefined) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const left = all.filter((w) => w.closedAfterMs === undefined).length;
      assert.equal(left, 0, `${left} connections still open 30 s later`);
      const timedOut = all.filter((w) => w.firstLine === "HTTP/1.1 408 Request Timeout");
      assert.ok(timedOut.length > 0, "silent and half-sent connections get 408");
      for (const w of timedOut) assert.ok(w.closedAfterMs! >= timeoutMs - 50, "not before");
      const kept = all.filter((w, i) => i % 3 === 2 && w.firstLine === "HTTP/1.1 200 OK");
      assert.equal(kept.length, 100, "every keep-alive client had its answer");
      assert.equal(router.exited, false);
      assert.ok(await healthy(port), "answering after shedding them");
      ok = true;
    } finally {
      for (const w of all) {
        try {
          w.conn.close();
        } catch {
          // closed by the server already
        }
      }
      await router.stop(!ok);
    }
  },
});

Deno.test({
  name: "SIGTERM stops the router although a silent connection is still open",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = await freeLoopbackPort();
    // No header deadline within the test: only the shutdown's own grace can close it.
    const router = routerProcess(port, { HEADER_TIMEOUT_MS: "600000" });
    let silent: Deno.Conn | undefined;
    let exited = false;
    try {
      await router.started();
      silent = await Deno.connect({ hostname: "127.0.0.1", port });
      await new Promise((resolve) => setTimeout(resolve, 200));
      exited = await router.terminate(30_000);
      assert.ok(exited, "still running 30 s after SIGTERM");
    } finally {
      silent?.close();
      await router.stop(!exited);
    }
  },
});

/** The service behind the production listener, its limits from `config`. */
async function served(
  config = TEST_CONFIG,
): Promise<{ service: Service; url: string; stop(): Promise<void> }> {
  const service = await createService(config, { logger: capturingLogger() });
  const server = await serveHttp(
    serveOptions({ ...config, host: "127.0.0.1", port: 0 }, {}),
    service.app.fetch,
  );
  return {
    service,
    url: `http://127.0.0.1:${server.addr.port}`,
    async stop() {
      await server.shutdown();
      await service.close();
    },
  };
}

Deno.test("300 concurrent 1 MiB routing requests: bytes in flight stay within the budget", async () => {
  const budget = 16 * 1024 * 1024;
  const { url, stop } = await served({ ...TEST_CONFIG, maxInFlightBytes: budget });
  try {
    const sql = `SELECT '${"x".repeat(1024 * 1024 - 200)}'`;
    const body = JSON.stringify({ user: "alice", sqlText: sql });
    const statuses = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const response = await fetch(`${url}/v1/route`, { method: "POST", body });
        await response.body?.cancel();
        return response.status;
      }),
    );
    const count = (status: number) => statuses.filter((s) => s === status).length;
    // Every request is answered: decided, or refused at once with 503 (the caller's Large).
    assert.equal(count(200) + count(503), 300, JSON.stringify(statuses));
    assert.ok(count(503) > 0, "past the budget requests are refused");
    assert.ok(count(200) >= 16, "within the budget requests are decided");
  } finally {
    await stop();
  }
});

Deno.test("the gateway endpoint answers 200 + large to a 100 MiB body without reading it", async () => {
  const { url, stop } = await served();
  try {
    const big = new Uint8Array(100 * 1024 * 1024).fill(0x20);
    const response = await fetch(`${url}/trino-gateway/route`, { method: "POST", body: big });
    assert.equal(response.status, 200);
    const answer = await response.json();
    assert.equal(answer.routingGroup, "large");
    assert.match(answer.errors[0], /exceeds/);
  } finally {
    await stop();
  }
});

Deno.test("20 concurrent 30 MiB events: the in-flight budget answers 503 + Retry-After", async () => {
  const { url, stop, service } = await served({
    ...TEST_CONFIG,
    maxInFlightBytes: 64 * 1024 * 1024,
  });
  try {
    const event = completedEvent({ queryId: "q1" });
    const body = JSON.stringify({ ...event, padding: "p".repeat(30 * 1024 * 1024) });
    const responses = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const response = await fetch(`${url}/v1/events/small`, {
          method: "POST",
          body,
          headers: ADMIN_HEADERS,
        });
        const retryAfter = response.headers.get("retry-after");
        await response.body?.cancel();
        return { status: response.status, retryAfter };
      }),
    );
    const refused = responses.filter((r) => r.status === 503);
    assert.ok(refused.length >= 18, JSON.stringify(responses.map((r) => r.status)));
    assert.ok(refused.every((r) => r.retryAfter === "1"));
    assert.ok(responses.every((r) => r.status === 503 || r.status === 200));
    await service.feedback.idle();
  } finally {
    await stop();
  }
});

Deno.test("client-chosen HTTP methods never become metric label values", async () => {
  const { url, stop } = await served();
  try {
    for (let i = 0; i < 50; i++) {
      const response = await fetch(`${url}/healthz`, { method: `PROBE${i}` });
      await response.body?.cancel();
      // The listener's parser knows a fixed set of methods: anything else never reaches the app.
      assert.equal(response.status, 400);
    }
    // A method the parser knows but the app does not count on its own.
    const purge = await fetch(`${url}/healthz`, { method: "PURGE" });
    await purge.body?.cancel();
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.doesNotMatch(metrics, /PROBE\d+|PURGE/);
    assert.match(metrics, /method="OTHER"/);
  } finally {
    await stop();
  }
});

/** Sends `head` and reads until the server closes: its whole answer, and when it closed. */
async function trickle(
  port: number,
  head: string,
): Promise<{ answer: string; closedAfterMs: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const start = performance.now();
  let answer = "";
  try {
    await conn.write(new TextEncoder().encode(head));
    const buffer = new Uint8Array(4096);
    for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
      answer += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    // reset by the server: closed as well
  } finally {
    conn.close();
  }
  return { answer, closedAfterMs: performance.now() - start };
}

Deno.test("a body trickled in too slowly is cut at the deadline with 408 and gives its bytes back", async () => {
  const headerTimeoutMs = 1_000;
  const bodyTimeoutMs = 1_000;
  const deadlineMs = headerTimeoutMs + bodyTimeoutMs;
  const { url, stop } = await served({
    ...TEST_CONFIG,
    maxInFlightBytes: 1536 * 1024,
    headerTimeoutMs,
    bodyTimeoutMs,
  });
  const port = Number(new URL(url).port);
  try {
    // A megabyte declared (streamed to the handler, held in the budget) and a small body (read
    // whole by the listener before any handler): a few bytes of each, then they stall.
    const large = trickle(
      port,
      `POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n{"sqlText": "`,
    );
    const small = trickle(
      port,
      `POST /v1/route HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"sqlText": "`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const body = JSON.stringify({ sqlText: `SELECT '${"x".repeat(1024 * 1024 - 100)}'` });
    const post = async () => {
      const response = await fetch(`${url}/v1/route`, { method: "POST", body });
      await response.body?.cancel();
      return response.status;
    };
    // While the trickle holds its megabyte, another does not fit (asked again while the server
    // has not yet read the trickle's headers: a loaded machine may take a moment).
    let held = await post();
    for (let i = 0; i < 10 && held === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      held = await post();
    }
    assert.equal(held, 503);
    for (const cut of await Promise.all([large, small])) {
      const [head, json] = cut.answer.split("\r\n\r\n");
      assert.equal(head.split("\r\n")[0], "HTTP/1.1 408 Request Timeout");
      assert.match(head, /connection: close/i);
      assert.match(JSON.parse(json).error, /not received in time.*2000 ms/);
      assert.ok(cut.closedAfterMs >= deadlineMs - 50, `cut after ${cut.closedAfterMs} ms: early`);
    }
    // Its read failed, so its megabyte went back to the budget: the next one fits.
    let status = await post();
    for (let i = 0; i < 20 && status === 503; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = await post();
    }
    assert.equal(status, 200);
  } finally {
    await stop();
  }
});
