// `deno task serve` (deploy/serve.sh) runs the service with the narrowest permissions its
// configuration allows. Proof on a real process: a model bundle whose manifest points at a file
// outside the models folder loads with --allow-all but is refused by the served process, which
// therefore cannot read outside its paths; the same process serves normally from its own paths.
import assert from "node:assert/strict";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { configFromEnv } from "../../src/config.ts";
import { RUNTIME_FILES, servePermissions } from "../../src/serve_permissions.ts";
import { completedEvent } from "../unit/_feedback_events.ts";
import { createTestPki } from "./_test_pki.ts";
import { RedisServer, skipRedisTests } from "./_redis_server.ts";
import {
  exchange,
  extProcClient,
  HEAVY_SQL,
  queued,
  submissionStream,
} from "./ext_proc_grpc_client.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TINY = new URL("../fixtures/models/tiny-xgb/", import.meta.url).pathname;
const DENO = `${ROOT}node_modules/.bin/deno`;

/** A models folder whose only bundle reads its ONNX file from `outside/` (a sibling folder). */
async function bundleReadingOutside(root: string): Promise<string> {
  const models = `${root}/models`;
  await Deno.mkdir(`${models}/escape`, { recursive: true });
  await Deno.mkdir(`${root}/outside`);
  await Deno.copyFile(`${TINY}model.onnx`, `${root}/outside/model.onnx`);
  const manifest = JSON.parse(await Deno.readTextFile(`${TINY}manifest.json`));
  manifest.version = "escape";
  manifest.onnx.file = "../../outside/model.onnx";
  // Sealed for that path, so that only the permissions can refuse it.
  manifest.integrity.files = { "../../outside/model.onnx": manifest.integrity.files["model.onnx"] };
  await Deno.writeTextFile(`${models}/escape/manifest.json`, JSON.stringify(manifest));
  await Deno.writeTextFile(`${models}/DEFAULT`, "escape\n");
  return models;
}

async function tinyModels(root: string): Promise<string> {
  const models = `${root}/models`;
  await Deno.mkdir(`${models}/tiny-xgb`, { recursive: true });
  for (const file of ["manifest.json", "model.onnx"]) {
    await Deno.copyFile(`${TINY}${file}`, `${models}/tiny-xgb/${file}`);
  }
  await Deno.writeTextFile(`${models}/DEFAULT`, "tiny-xgb\n");
  return models;
}

async function waitReady(port: number, child: Deno.ChildProcess): Promise<Response> {
  const deadline = Date.now() + 45_000;
  let exited = false;
  child.status.then(() => exited = true);
  while (Date.now() < deadline && !exited) {
    try {
      return await fetch(`http://127.0.0.1:${port}/readyz`);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("service did not listen");
}

function serve(env: Record<string, string>, command = "bash", args = ["deploy/serve.sh"]) {
  return new Deno.Command(command, {
    args,
    cwd: ROOT,
    env: { ...env, DENO },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("deno task serve: the running service cannot read a file outside its paths", async () => {
  const root = await Deno.makeTempDir({ prefix: "router-perm-" });
  try {
    const models = await bundleReadingOutside(root);
    const env = { PORT: String(freeLoopbackPort()), MODELS_DIR: models };
    // Control: with every permission the same bundle loads, so the file itself is fine.
    const open = serve(env, DENO, ["run", "-A", "src/main.ts"]);
    try {
      const ready = await waitReady(Number(env.PORT), open);
      assert.equal((await ready.json()).defaultVersion, "escape");
    } finally {
      open.kill("SIGTERM");
      await open.output();
    }
    // Narrow: the served process is refused the read and stops before listening.
    const narrow = await serve({ ...env, PORT: String(freeLoopbackPort()) }).output();
    assert.equal(narrow.success, false);
    const stderr = new TextDecoder().decode(narrow.stderr);
    assert.match(stderr, /NotCapable|PermissionDenied|Requires read access/);
    assert.match(stderr, /outside\/model\.onnx/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task serve: the narrowly permitted service loads its models and routes", async () => {
  const root = await Deno.makeTempDir({ prefix: "router-perm-" });
  const port = freeLoopbackPort();
  const child = serve({ PORT: String(port), MODELS_DIR: await tinyModels(root) });
  try {
    const ready = await waitReady(port, child);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).defaultVersion, "tiny-xgb");
    // A cold template is parsed by the worker pool, whose entry module needs its own read
    // permission: without it every parse falls back to token features. The first parse may miss
    // the budget while the worker starts; the late result fills the cache for the next request.
    let reason = "";
    for (let attempt = 0; attempt < 40 && reason !== "model"; attempt++) {
      const routed = await fetch(`http://127.0.0.1:${port}/v1/route`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          sqlText:
            `SELECT n.name FROM nation n JOIN region r ON n.regionkey = r.regionkey WHERE n.nationkey = ${attempt}`,
          queryId: `q-perm-${attempt}`,
        }),
      });
      assert.equal(routed.status, 200);
      reason = (await routed.json()).reason;
      if (reason !== "model") await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(
      reason,
      "model",
      `the CST worker parses under the served permissions (got ${reason})`,
    );
  } finally {
    child.kill("SIGTERM");
    await child.output();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task serve: HTTPS, ext_proc and Redis over TLS all work under its permissions", {
  ignore: await skipRedisTests(),
}, async () => {
  const root = await Deno.makeTempDir({ prefix: "router-perm-" });
  const pki = await createTestPki();
  const redis = await RedisServer.start({ tls: pki });
  const port = freeLoopbackPort();
  const extProcPort = freeLoopbackPort();
  const child = serve({
    PORT: String(port),
    MODELS_DIR: await tinyModels(root),
    TLS_CERT_FILE: pki.certFile,
    TLS_KEY_FILE: pki.keyFile,
    EXT_PROC_PORT: String(extProcPort),
    REDIS_URL: redis.url,
    REDIS_CA_FILE: pki.caFile,
  });
  const client = Deno.createHttpClient({ caCerts: [pki.ca] });
  const grpc = extProcClient(extProcPort, pki.ca);
  try {
    const deadline = Date.now() + 45_000;
    let ready: Response | undefined;
    while (!ready && Date.now() < deadline) {
      ready = await fetch(`https://localhost:${port}/readyz`, { client }).catch(() => undefined);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(ready?.status, 200);
    // The store reached Redis over TLS, verified with the private CA.
    let body = await ready!.json();
    for (let i = 0; i < 50 && body.store.state !== "ok"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      body = await (await fetch(`https://localhost:${port}/readyz`, { client })).json();
    }
    assert.deepEqual([body.store.backend, body.store.state], ["redis", "ok"]);
    // With a shared store the service runs one process per core (WORKERS): the HTTPS answer can
    // come from a worker before worker 0, which alone serves ext_proc, listens.
    await new Promise<void>((resolve, reject) =>
      grpc.waitForReady(Date.now() + 30_000, (error) => error ? reject(error) : resolve())
    );
    const answers = await exchange(grpc, submissionStream(HEAVY_SQL, queued("q-perm-tls")));
    assert.equal(answers.length, 3);
  } finally {
    grpc.close();
    client.close();
    child.kill("SIGTERM");
    await child.output();
    await redis.stop();
    await pki.remove();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deno task serve: the narrowly permitted service writes the labeled log, reopened on SIGHUP", async () => {
  const root = await Deno.makeTempDir({ prefix: "router-perm-" });
  const port = freeLoopbackPort();
  const log = `${root}/labeled.jsonl`;
  const child = serve({
    PORT: String(port),
    MODELS_DIR: await tinyModels(root),
    LABELED_LOG_PATH: log,
    ROUTER_ADMIN_TOKEN: "perm-test-token",
  });
  try {
    await (await waitReady(port, child)).body?.cancel();
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 200, await response.clone().text());
      await response.body?.cancel();
    };
    // Routed before Trino assigned the query id (as Envoy asks); the completion event joins it
    // by its user, source, catalog, schema and SQL (see test/unit/service_feedback_test.ts).
    const routeAndComplete = async (sql: string, queryId: string) => {
      await post("/v1/route", {
        user: "alice",
        source: "trino-cli",
        sessionProperties: { catalog: "tpch", schema: "sf1" },
        sqlText: sql,
      });
      const event = completedEvent({ queryId, sql });
      await post("/v1/events/small", event, { authorization: "Bearer perm-test-token" });
    };
    const logged = async (path: string, queryId: string) => {
      let text = "";
      for (let i = 0; i < 100 && !text.includes(queryId); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        text = await Deno.readTextFile(path).catch(() => "");
      }
      return text;
    };
    await routeAndComplete(
      "SELECT * FROM orders WHERE orderdate = DATE '2025-08-10'",
      "20250811_123456_00001_plog",
    );
    assert.match(await logged(log, "_plog"), /"20250811_123456_00001_plog"/);
    // logrotate's way: rename, then SIGHUP. Without the reopen the next line would go on into
    // the renamed file and the path would never appear again.
    await Deno.rename(log, `${log}.1`);
    child.kill("SIGHUP");
    await routeAndComplete("SELECT count(*) FROM nation", "20250811_123500_00002_rota");
    const reopened = await logged(log, "_rota");
    assert.match(reopened, /"20250811_123500_00002_rota"/);
    assert.doesNotMatch(reopened, /_plog/);
    assert.doesNotMatch(await Deno.readTextFile(`${log}.1`), /_rota/);
  } finally {
    child.kill("SIGTERM");
    await child.output();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("servePermissions: net, read and write follow the configuration", () => {
  const config = configFromEnv({
    HOST: "0.0.0.0",
    PORT: "8443",
    MODEL_REGISTRY_URL: "https://registry.internal/models",
    REDIS_URL: "rediss://:secret@redis:6380/0",
    REDIS_CA_FILE: "/etc/router/redis-ca.pem",
    TLS_CERT_FILE: "/etc/router/tls.crt",
    TLS_KEY_FILE: "/etc/router/tls.key",
    EXT_PROC_PORT: "9002",
    EXT_PROC_HOST: "0.0.0.0",
    LARGE_CLUSTER_URL: "http://trino-large:8080",
    LABELED_LOG_PATH: "/var/log/router/labeled.jsonl",
    SHADOW_ROUTE_SMALL_URL: "http://trino-small:8080",
    WORKERS: "1",
  });
  const flags = servePermissions(config, RUNTIME_FILES);
  const get = (name: string) => flags.find((flag) => flag.startsWith(`--${name}=`))?.split("=")[1];
  assert.deepEqual(get("allow-net")!.split(",").sort(), [
    "0.0.0.0:8443",
    "0.0.0.0:9002",
    "redis:6380",
    "registry.internal:443",
    "trino-large:8080",
    "trino-small:8080",
  ]);
  const read = get("allow-read")!.split(",");
  // A registry replaces the models folder; the TLS files and protos are readable, nothing broad.
  assert.ok(!read.includes(config.modelsDir));
  for (const path of ["/etc/router/redis-ca.pem", "/etc/router/tls.crt", RUNTIME_FILES.protoDir]) {
    assert.ok(read.includes(path), path);
  }
  assert.ok(!read.some((path) => path === "/" || path === ROOT || path.endsWith("/proc/self")));
  assert.equal(get("allow-write"), "/var/log/router/labeled.jsonl");
  assert.ok(read.includes("/var/log/router/labeled.jsonl"));
  assert.ok(get("allow-env")!.split(",").includes("ROUTER_ADMIN_TOKEN"));
  assert.ok(!flags.some((flag) => flag === "--allow-all" || flag === "-A"));
  assert.ok(!flags.some((flag) => /^--allow-(run|ffi)/.test(flag)));
  // With the ext_proc server: the uid (proto-loader's access check), no other system value.
  assert.deepEqual(flags.filter((flag) => flag.startsWith("--allow-sys")), ["--allow-sys=uid"]);
  assert.ok(
    !servePermissions(configFromEnv({}), RUNTIME_FILES).some((f) => f.startsWith("--allow-sys")),
  );
  // Several workers: the supervisor may also start the Deno binary, and nothing else.
  const supervisor = servePermissions({ ...config, workers: 2 }, RUNTIME_FILES);
  assert.deepEqual(supervisor.filter((flag) => /^--allow-(run|ffi)/.test(flag)), [
    `--allow-run=${Deno.execPath()}`,
  ]);
});

Deno.test("servePermissions: MLflow registry → its server and the bundles' local copy", () => {
  const config = configFromEnv({
    MODEL_REGISTRY: "mlflow",
    MLFLOW_TRACKING_URI: "http://mlflow.ml:5000",
    MODEL_CACHE_DIR: "/var/cache/router-models",
  });
  const flags = servePermissions(config, RUNTIME_FILES);
  const get = (name: string) => flags.find((flag) => flag.startsWith(`--${name}=`))?.split("=")[1];
  assert.ok(get("allow-net")!.split(",").includes("mlflow.ml:5000"));
  assert.ok(get("allow-read")!.split(",").includes("/var/cache/router-models"));
  assert.ok(!get("allow-read")!.split(",").includes(config.modelsDir));
  assert.equal(get("allow-write"), "/var/cache/router-models");
});
