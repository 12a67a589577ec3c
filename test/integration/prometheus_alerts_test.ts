// deploy/prometheus/ and deploy/grafana/ against real servers on loopback: promtool accepts the
// rules, a real Prometheus scrapes the real router over HTTPS (the service on a free port, its
// certificate verified against a private CA), the fallback alert fires when routing requests fall
// back to Large, every dashboard query evaluates without error, and RouterDown fires when the
// router stops. The rules run as committed except their `for:` durations, shortened so the test
// takes seconds.
import assert from "node:assert/strict";
import { commandRuns, freeLoopbackPort } from "../../tools/harness/local_process.ts";
import { configFromEnv } from "../../src/config.ts";
import { readServeMaterial, serveOptions } from "../../src/serve_options.ts";
import { type HttpListener, serveHttp } from "../../src/server/http_listener.ts";
import { createTestPki } from "./_test_pki.ts";
import { REFRESH_OUTCOMES, type RefreshOutcome } from "../../src/model/model_reloader.ts";
import { createService } from "../../src/service.ts";
import { TRINO_GATEWAY_PATH } from "../../src/server/trino_gateway_api.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const RULES = `${ROOT}deploy/prometheus/rules.yaml`;
const RULES_TEST = `${ROOT}deploy/prometheus/rules_test.yaml`;
const DASHBOARD = `${ROOT}deploy/grafana/trino_router_dashboard.json`;

const installed = await commandRuns("prometheus", ["--version"]) &&
  await commandRuns("promtool", ["--version"]);
const ignore = !installed && !Deno.env.get("CI");
if (ignore) console.warn("prometheus not installed: skipping (run .ci/install_prometheus.sh)");
const silent = { info() {}, warn() {}, error() {} };
const decoder = new TextDecoder();

async function promtool(args: string[]) {
  const { success, stdout, stderr } = await new Deno.Command("promtool", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { success, log: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** Every `trino_router_*` metric the router's sources register. */
async function exportedMetricNames(): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (const m of text.matchAll(/["'](trino_router_[a-z_]+)["']/g)) names.add(m[1]);
      }
    }
  };
  await walk(`${ROOT}src`);
  return names;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("Prometheus rules and Grafana dashboard against a real Prometheus and router", {
  ignore,
}, async (t) => {
  // (deploy/prometheus/prometheus.yaml, the Kubernetes scrape job, is not checked: Debian's
  // Prometheus is built without kubernetes_sd_configs.)
  await t.step("promtool accepts the rules", async () => {
    const rules = await promtool(["check", "rules", RULES]);
    assert.ok(rules.success, rules.log);
  });

  await t.step("promtool unit tests: each alert fires at its threshold, not below", async () => {
    const dir = await Deno.makeTempDir({ prefix: "promtool-test-" });
    try {
      // Annotations are left out (their templates passed `check rules`): promtool would compare
      // them verbatim, and the expressions, labels and `for:` are what is under test.
      const rules = (await Deno.readTextFile(RULES))
        .replace(/^ {8}annotations:\n(?:(?: {10,}.*)?\n)*/gm, "");
      assert.ok(!rules.includes("annotations:"), "every annotations block stripped");
      await Deno.writeTextFile(`${dir}/rules.yaml`, rules);
      await Deno.copyFile(RULES_TEST, `${dir}/rules_test.yaml`);
      const result = await promtool(["test", "rules", `${dir}/rules_test.yaml`]);
      assert.ok(result.success, result.log);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step(
    "the refresh alert matches exactly the failing outcomes of the reloader",
    async () => {
      const rules = await Deno.readTextFile(RULES);
      const selector = rules.match(/trino_router_model_refresh_total\{outcome=~"([^"]+)"\}/);
      assert.ok(selector, "refresh alert selector");
      const alerting = new RegExp(`^(?:${selector[1]})$`);
      const successes: RefreshOutcome[] = ["swapped", "unchanged"];
      for (const outcome of REFRESH_OUTCOMES) {
        assert.equal(alerting.test(outcome), !successes.includes(outcome), outcome);
      }
    },
  );

  // The real service on a free loopback port, over HTTPS with a private CA (Prometheus verifies
  // it, as in Kubernetes); its in-memory store and the repository's model.
  const pki = await createTestPki();
  const routerPort = freeLoopbackPort();
  const config = configFromEnv({
    PORT: String(routerPort),
    TLS_CERT_FILE: pki.certFile,
    TLS_KEY_FILE: pki.keyFile,
  });
  const material = await readServeMaterial(config);
  const service = await createService(config, { logger: silent, material });
  const client = Deno.createHttpClient({ caCerts: [pki.ca] });

  await t.step("every metric the rules and panels use is one the router exports", async () => {
    // Registered in src/, plus the default collectors' (visible in a scrape of the registry).
    const exported = await exportedMetricNames();
    for (const m of (await service.metrics.registry.metrics()).matchAll(/^# TYPE (\S+)/gm)) {
      exported.add(m[1]);
    }
    const used = new Set<string>();
    const text = (await Deno.readTextFile(RULES)) + (await Deno.readTextFile(DASHBOARD));
    for (const m of text.matchAll(/\b(trino_router_[a-z_]+)\b/g)) used.add(m[1]);
    // Histograms are exported as _bucket/_count/_sum series of their registered name.
    const base = (name: string) => name.replace(/_(bucket|count|sum)$/, "");
    // Registered by the drift work under this name; listed until it lands.
    const pending = new Set(["trino_router_feature_psi"]);
    const unknown = [...used].filter((n) =>
      !exported.has(n) && !exported.has(base(n)) && !pending.has(n)
    );
    assert.deepEqual(unknown, []);
    for (const name of pending) {
      if (!exported.has(name)) console.warn(`${name}: not exported by src/ yet`);
    }
  });

  let router: HttpListener | undefined = await serveHttp(
    serveOptions(config, material),
    service.app.fetch,
  );
  const dir = await Deno.makeTempDir({ prefix: "prometheus-" });
  const promPort = freeLoopbackPort();
  const rules = (await Deno.readTextFile(RULES)).replace(/^(\s+)for: \S+$/gm, "$1for: 1s");
  await Deno.writeTextFile(`${dir}/rules.yaml`, rules);
  await Deno.writeTextFile(
    `${dir}/prometheus.yaml`,
    JSON.stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: [`${dir}/rules.yaml`],
      scrape_configs: [{
        job_name: "trino-router",
        scheme: "https",
        tls_config: { ca_file: pki.caFile, server_name: "localhost" },
        static_configs: [{ targets: [`127.0.0.1:${routerPort}`] }],
      }],
    }),
  );
  const prometheus = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yaml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(prometheus.stderr).text();
  const api = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${promPort}${path}`);
    return await response.json();
  };
  const firing = (name: string) => async () => {
    const { data } = await api("/api/v1/alerts");
    return data.alerts.find((a: { labels: { alertname: string }; state: string }) =>
      a.labels.alertname === name && a.state === "firing"
    );
  };
  try {
    await waitFor("the router target to be up", async () => {
      const { data } = await api(
        `/api/v1/query?query=${encodeURIComponent('up{job="trino-router"}')}`,
      );
      return data.result[0]?.value[1] === "1" ? true : undefined;
    });

    await t.step("forced fallbacks → TrinoRouterFallbackRate fires", async () => {
      const post = async (path: string, body: string) => {
        const response = await fetch(`https://localhost:${routerPort}${path}`, {
          client,
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        });
        await response.body?.cancel();
        assert.equal(response.status, 200);
      };
      // Some decisions, then routing requests that fall back to Large (bodies the gateway never
      // sends), for long enough that two scrapes see the counters move.
      for (let i = 0; i < 5; i++) {
        await post("/v1/route", JSON.stringify({ sqlText: `SELECT ${i}`, queryId: `q${i}` }));
      }
      const alert = await waitFor("TrinoRouterFallbackRate", async () => {
        await post(TRINO_GATEWAY_PATH, "not json");
        return await firing("TrinoRouterFallbackRate")();
      });
      assert.equal(alert.labels.severity, "warning");
      assert.equal(await firing("TrinoRouterDown")(), undefined);
    });

    await t.step("every dashboard panel's query evaluates without error", async () => {
      const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
      const panels = dashboard.panels.filter((p: { type: string }) => p.type !== "row");
      assert.ok(panels.length >= 15);
      const withData: string[] = [];
      for (const panel of panels) {
        assert.ok(panel.targets.length > 0, panel.title);
        for (const target of panel.targets) {
          // Grafana's variables, as Grafana substitutes them.
          const expr = target.expr.replaceAll("$__rate_interval", "1m").replaceAll(
            "$job",
            "trino-router",
          );
          const result = await api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
          assert.equal(result.status, "success", `${panel.title}: ${expr}: ${result.error}`);
          if (result.data.result.length > 0) withData.push(panel.title);
        }
      }
      // The panels fed by what this test did have data (queries that match nothing return
      // success too, so this is what shows the names and labels are right).
      for (
        const title of [
          "QPS by route",
          "Decision latency p50 / p95 / p99",
          "Fallback rate (share sent to Large because routing failed)",
          "Fallbacks by cause",
          "CPU per pod",
          "Memory per pod (RSS)",
          "Decisions by class, reason and model version",
          "Score distribution (heavy probability)",
          "Store degraded",
          "Serving model version per pod",
        ]
      ) {
        assert.ok(withData.includes(title), `no data: ${title}`);
      }
    });

    await t.step("router stopped → TrinoRouterDown fires", async () => {
      await router!.shutdown();
      router = undefined;
      const alert = await waitFor("TrinoRouterDown", firing("TrinoRouterDown"));
      assert.equal(alert.labels.severity, "critical");
      assert.equal(alert.labels.instance, `127.0.0.1:${routerPort}`);
    });
  } finally {
    await router?.shutdown();
    await service.close();
    client.close();
    prometheus.kill("SIGTERM");
    await prometheus.status;
    const log = await stderr;
    await Deno.remove(dir, { recursive: true });
    await pki.remove();
    if (log.includes("level=error")) console.log(log.slice(0, 2000));
  }
});
