/**
 * `WORKERS=2`: `src/main.ts` supervises two server processes sharing one port (a real Redis
 * holds their shared state), both answer, and a SIGTERM stops all of them.
 */
import assert from "node:assert/strict";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";

const ignore = await skipRedisTests();

function childPids(pid: number): number[] {
  const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
  return text === "" ? [] : text.split(/\s+/).map(Number);
}

Deno.test({
  name: "two worker processes share the port, answer, and stop with the supervisor",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const redis = await RedisServer.start();
    const port = freeLoopbackPort();
    const supervisor = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", new URL("../../src/main.ts", import.meta.url).href],
      env: { PORT: String(port), HOST: "127.0.0.1", WORKERS: "2", REDIS_URL: redis.url },
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      let workers: number[] = [];
      for (let i = 0; i < 300 && workers.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        workers = childPids(supervisor.pid);
      }
      assert.equal(workers.length, 2, "two worker processes");
      // Both must be listening before the port answers every connection; new connections
      // (no keep-alive) land on either.
      let ok = 0;
      for (let i = 0; i < 600 && ok < 20; i++) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/v1/route`, {
            method: "POST",
            body: JSON.stringify({ sqlText: `SELECT * FROM t WHERE x = ${i}` }),
            headers: { connection: "close" },
          });
          const body = await response.json();
          if (response.status === 200 && body.decision) ok++;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.equal(ok, 20);
      supervisor.kill("SIGTERM");
      const status = await supervisor.status;
      assert.equal(status.code, 0);
      for (const pid of workers) {
        assert.ok(!existsProc(pid), `worker ${pid} stopped`);
      }
    } finally {
      try {
        supervisor.kill("SIGKILL");
      } catch {
        // Already stopped.
      }
      await redis.stop();
    }
  },
});

function existsProc(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie has exited
  } catch {
    return false;
  }
}
