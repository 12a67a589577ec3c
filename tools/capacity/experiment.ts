/**
 * The value experiment on real Trino: one mixed open-loop workload run against a symmetric
 * Trino on all cores, and against Small (one core) + Large (the other) behind Envoy and the
 * router with transparent retry; light/heavy latency, failures, retries and CPU per cluster,
 * repeated, with latency CDF plots and the planner's CPU prediction checked against the clusters'
 * completion events.
 *
 * ```sh
 * npx deno task experiment -- [--rate 4] [--seconds 120] [--repeats 3] [--out experiment_report]
 * npx deno task experiment -- --rate 2 --seconds 15 --repeats 1 --sf1-scale 0   # a dry run
 * ```
 *
 * Starts its own three Trino servers (deploy/trino/cluster.sh with their own run directory and
 * ports, pinned with `taskset`), the router (`src/main.ts`, with ext_proc) and Envoy
 * (`deploy/envoy/envoy.yaml` with its ext_proc retry sections); stops them at the end unless `--keep-clusters`.
 *
 * @module
 */

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EnvoyProcess } from "../harness/envoy_process.ts";
import { freeLoopbackPort } from "../harness/local_process.ts";
import type { LabelThresholds, QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { cliArgs } from "../../training/featurize.ts";
import { type Collector, startCollector, writeLog } from "../workload/collector.ts";
import { generateWorkload, type PlannedQuery } from "../workload/generate.ts";
import { executeQuery } from "../workload/trino_client.ts";
import { cdfPoints, improvement, type LatencySummary, summarizeLatency } from "./latency.ts";
import {
  analyze,
  labelsOf,
  type Outcome,
  portOf,
  type RunAnalysis,
  type RunResult,
} from "./experiment_runs.ts";
import { numberFlag, planLog } from "./plan.ts";
import { lineChart } from "./svg_chart.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const CLUSTER_SH = join(REPO, "deploy/trino/cluster.sh");
const DENO = join(REPO, "node_modules/.bin/deno");

/** One Trino server of the experiment. */
interface Instance {
  readonly name: "symmetric" | "small" | "large";
  /** The cluster.sh profile whose limits it gets. */
  readonly profile: "small" | "large";
  readonly port: number;
  readonly runDir: string;
  /** CPU list for `taskset -c`. */
  readonly cpus: string;
}

/** The experiment's settings. */
interface Settings {
  readonly rate: number;
  readonly seconds: number;
  readonly repeats: number;
  readonly seed: number;
  readonly sf1Scale: number;
  readonly timeoutSeconds: number;
  readonly warmup: number;
  readonly out: string;
  readonly keepClusters: boolean;
  readonly model?: string;
  readonly runRoot: string;
  readonly basePort: number;
  readonly cpus: { symmetric: string; small: string; large: string };
}

const log = (message: string) =>
  console.error(`[experiment ${new Date().toISOString()}] ${message}`);

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  if (!success) throw new Error(`${command} ${args.join(" ")} failed:\n${text.slice(-2000)}`);
  return text;
}

function instanceEnv(i: Instance, eventUrl: string): Record<string, string> {
  return {
    TRINO_RUN_DIR: i.runDir,
    [i.profile === "small" ? "TRINO_SMALL_PORT" : "TRINO_LARGE_PORT"]: String(i.port),
    TRINO_EVENT_URL: eventUrl,
  };
}

/** Starts (or reuses) an instance pinned to its CPUs; returns its verified affinity. */
async function startInstance(i: Instance, eventUrl: string): Promise<string> {
  log(`starting ${i.name} (${i.profile} profile) on :${i.port}, cpus ${i.cpus}`);
  // The launcher forks the JVM, which inherits the affinity set here.
  await run(
    "taskset",
    ["-c", i.cpus, "bash", CLUSTER_SH, "start", i.profile],
    instanceEnv(i, eventUrl),
  );
  const pid = (await Deno.readTextFile(join(i.runDir, i.profile, "launcher.pid"))).trim();
  return (await run("taskset", ["-pc", pid])).trim();
}

async function stopInstance(i: Instance, eventUrl: string): Promise<void> {
  await run("bash", [CLUSTER_SH, "stop", i.profile], instanceEnv(i, eventUrl)).catch((e) =>
    log(`stopping ${i.name}: ${e.message}`)
  );
}

/** Throws, naming the server and its log, when one of `servers` stopped answering. */
async function assertAlive(servers: readonly Instance[]): Promise<void> {
  for (const i of servers) {
    const info = await fetch(`http://127.0.0.1:${i.port}/v1/info`, {
      signal: AbortSignal.timeout(20_000),
    }).then((r) => r.json(), () => undefined);
    if (info?.starting !== false) {
      throw new Error(
        `Trino ${i.name} on :${i.port} stopped answering (killed? see ` +
          `${join(i.runDir, i.profile, "server.log")}): its numbers would be meaningless`,
      );
    }
  }
}

/** The router process (src/main.ts) with ext_proc, like a deployment. */
async function startRouter(
  large: Instance,
  model: string | undefined,
): Promise<
  {
    port: number;
    extProcPort: number;
    metric: (name: string) => Promise<number>;
    stop: () => Promise<void>;
  }
> {
  const port = freeLoopbackPort();
  const extProcPort = freeLoopbackPort();
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    PORT: String(port),
    EXT_PROC_PORT: String(extProcPort),
    EXT_PROC_HOST: "127.0.0.1",
    SMALL_CLUSTER: "small",
    LARGE_CLUSTER: "large",
    LARGE_CLUSTER_URL: `http://127.0.0.1:${large.port}`,
    ROLLOUT_MODE: "full",
  };
  if (model) env.DEFAULT_MODEL_VERSION = model;
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", join(REPO, "src/main.ts")],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      async (r) => (await r.body?.cancel(), r.ok),
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill();
      throw new Error("router not ready within 120 s");
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    port,
    extProcPort,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(name + " "));
      return line ? Number(line.split(" ")[1]) : 0;
    },
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function loadAverage(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/** Sends `plan` open loop at `rate` queries/s to `baseUrl`; resolves when every query ended. */
async function openLoop(
  plan: readonly PlannedQuery[],
  baseUrl: string,
  rate: number,
  timeoutMs: number,
): Promise<Outcome[]> {
  const started = performance.now();
  const pending: Promise<Outcome>[] = [];
  for (let i = 0; i < plan.length; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const q = plan[i];
    pending.push(
      executeQuery(baseUrl, q.sql, q, { timeoutMs }).then((o) => ({
        ...o,
        seq: q.seq,
        template: q.template,
      })),
    );
  }
  return await Promise.all(pending);
}

/** Runs one configuration once and collects its completion events. */
async function runOnce(
  config: RunResult["config"],
  repeat: number,
  seed: number,
  plan: readonly PlannedQuery[],
  baseUrl: string,
  settings: Settings,
  collector: Collector,
  retries: () => Promise<number>,
  servers: ReadonlySet<number>,
): Promise<RunResult> {
  const before = new Set(collector.events.keys());
  const retriesBefore = await retries();
  const load0 = loadAverage();
  const t0 = performance.now();
  log(`repeat ${repeat} ${config}: ${plan.length} queries at ${settings.rate}/s`);
  const outcomes = await openLoop(plan, baseUrl, settings.rate, settings.timeoutSeconds * 1000);
  const wallSeconds = (performance.now() - t0) / 1000;
  const missing = await collector.waitFor(
    outcomes.map((o) => o.queryId).filter((id) => id !== ""),
    60_000,
  );
  if (missing.length) log(`${missing.length} completion events never arrived`);
  // Failed attempts on Small (retried) have ids the client never saw: let their events land.
  await new Promise((r) => setTimeout(r, 3000));
  // New events of this configuration's own servers only (a late event of another run is not ours).
  const events = [...collector.events]
    .filter(([id]) => !before.has(id))
    .map(([, e]) => e as unknown as QueryCompletedEvent)
    .filter((e) => servers.has(portOf(e)));
  const result: RunResult = {
    config,
    repeat,
    seed,
    outcomes,
    events,
    retries: (await retries()) - retriesBefore,
    wallSeconds,
    load: [load0, loadAverage()],
  };
  log(
    `repeat ${repeat} ${config}: ${wallSeconds.toFixed(0)} s, ${events.length} events, ` +
      `${result.retries} retries, load ${result.load.map((l) => l.toFixed(1)).join("→")}`,
  );
  return result;
}

/** Planner prediction vs measurement of one repeat's routed run. */
interface Validation {
  readonly repeat: number;
  readonly predicted: { small: number; large: number };
  readonly measured: { small: number; large: number };
  readonly error: { small: number; large: number };
  /** Retries the planner expects (heavy queries it sees failing on Small) and the router made. */
  readonly retries: { predicted: number; measured: number };
  /** Queries the planner's replay sends to Small, and the Small server's completed ones. */
  readonly smallQueries: { predicted: number; measured: number };
}

const ms = (v: number) => `${Math.round(v)}`;
const pct = (v: number | null) =>
  v === null || !Number.isFinite(v) ? "n/a" : `${(v * 100).toFixed(1)}%`;
/** Improvement of `after` over `before` at one percentile; n/a when either has no query. */
const gain = (before: LatencySummary, after: LatencySummary, key: "p50" | "p90" | "p99") =>
  before.count === 0 || after.count === 0 ? null : improvement(before[key], after[key]);

function formatReport(
  settings: Settings,
  analyses: readonly RunAnalysis[],
  validations: readonly Validation[],
  meta: { model: string; affinity: Record<string, string>; startedAt: string },
): string {
  const pooled = (config: string, c: "light" | "heavy") => {
    const runs = analyses.filter((a) => a.config === config);
    return {
      latency: summarizeLatency(runs.flatMap((a) => a[c].latencies)),
      failures: runs.reduce((s, a) => s + a[c].failures, 0),
      queries: runs.reduce((s, a) => s + a[c].queries, 0),
    };
  };
  const rows: string[] = [];
  for (const a of analyses) {
    for (const c of ["light", "heavy"] as const) {
      const s = a[c];
      rows.push(
        `| ${a.repeat} | ${a.config} | ${c} | ${s.queries} | ${ms(s.latency.p50)} | ${
          ms(s.latency.p90)
        } | ${ms(s.latency.p99)} | ${s.failures} | ${c === "light" ? a.retries : ""} | ${
          c === "light"
            ? Object.entries(a.cpuSecondsByCluster).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(
              ", ",
            )
            : ""
        } | ${c === "light" ? a.load.map((l) => l.toFixed(1)).join("→") : ""} | ${
          c === "light" ? a.unlabeled : ""
        } |`,
      );
    }
  }
  const ratioRows: string[] = [];
  const repeats = [...new Set(analyses.map((a) => a.repeat))];
  for (const c of ["light", "heavy"] as const) {
    for (const r of repeats) {
      const s = analyses.find((a) => a.repeat === r && a.config === "symmetric")?.[c].latency;
      const t = analyses.find((a) => a.repeat === r && a.config === "routed")?.[c].latency;
      if (!s || !t) continue;
      ratioRows.push(
        `| ${c} | ${r} | ${pct(gain(s, t, "p50"))} | ${pct(gain(s, t, "p90"))} | ${
          pct(gain(s, t, "p99"))
        } |`,
      );
    }
    const s = pooled("symmetric", c).latency, t = pooled("routed", c).latency;
    ratioRows.push(
      `| ${c} | **pooled** | **${pct(gain(s, t, "p50"))}** | **${pct(gain(s, t, "p90"))}** | **${
        pct(gain(s, t, "p99"))
      }** |`,
    );
  }
  const pooledRows = (["symmetric", "routed"] as const).flatMap((config) =>
    (["light", "heavy"] as const).map((c) => {
      const p = pooled(config, c);
      return `| ${config} | ${c} | ${p.queries} | ${ms(p.latency.p50)} | ${ms(p.latency.p90)} | ${
        ms(p.latency.p99)
      } | ${p.failures} |`;
    })
  );
  return [
    "# Experiment: symmetric vs smart routing on real Trino",
    "",
    `Started ${meta.startedAt}; model ${meta.model}; ${settings.repeats} repeat(s), each run ` +
    `${settings.seconds} s of open-loop arrivals at ${settings.rate} queries/s (seed ${settings.seed}` +
    ` + repeat; sf1 scale ${settings.sf1Scale}; client timeout ${settings.timeoutSeconds} s; ` +
    `${settings.warmup} warm-up queries per server first). Latency = client-side, POST to last ` +
    "page, retries included. Light/heavy by the label rules on the symmetric run's completion " +
    "event of the same query (the routed run's when that one was cancelled).",
    "",
    "CPU affinity as verified with `taskset -p`: " +
    Object.entries(meta.affinity).map(([k, v]) => `${k}: ${v}`).join("; "),
    "",
    "## Pooled over repeats (ms)",
    "",
    "| config | class | queries | P50 | P90 | P99 | failures |",
    "|---|---|---|---|---|---|---|",
    ...pooledRows,
    "",
    "## Improvement of smart routing over symmetric (positive = faster)",
    "",
    "| class | repeat | P50 | P90 | P99 |",
    "|---|---|---|---|---|",
    ...ratioRows,
    "",
    "![light-query latency CDF](light_cdf.svg)",
    "",
    "![heavy-query latency CDF](heavy_cdf.svg)",
    "",
    "## Every run (ms)",
    "",
    "| repeat | config | class | queries | P50 | P90 | P99 | failures | retries | CPU-s by cluster | load (1 min) | unlabeled |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    "## Planner validation (CPU-seconds per cluster)",
    "",
    "The planner replays the symmetric run's completion events (the workload's log) through the " +
    "router and predicts each cluster's CPU; measured = the Small and Large servers' own " +
    "completion events in the routed run of the same repeat.",
    "",
    "| repeat | Small predicted | Small measured | error | Large predicted | Large measured | error | retries predicted / made | queries on Small predicted / ran |",
    "|---|---|---|---|---|---|---|---|---|",
    ...validations.map((v) =>
      `| ${v.repeat} | ${v.predicted.small.toFixed(1)} | ${v.measured.small.toFixed(1)} | ${
        pct(v.error.small)
      } | ${v.predicted.large.toFixed(1)} | ${v.measured.large.toFixed(1)} | ${
        pct(v.error.large)
      } | ${v.retries.predicted} / ${v.retries.measured} | ${v.smallQueries.predicted} / ${v.smallQueries.measured} |`
    ),
    "",
  ].join("\n");
}

function cdfChart(analyses: readonly RunAnalysis[], c: "light" | "heavy"): string {
  return lineChart({
    title: `${c} queries: latency CDF, symmetric vs smart routing (all repeats)`,
    xLabel: "client latency, ms (log scale)",
    yLabel: "share of queries",
    logX: true,
    series: (["symmetric", "routed"] as const).map((config) => ({
      name: config === "routed" ? "smart routing" : "symmetric",
      points: cdfPoints(
        analyses.filter((a) => a.config === config).flatMap((a) => a[c].latencies),
      ),
      step: true,
    })),
  });
}

/** Everything a finished experiment recorded (`runs.json`); the report is computed from it. */
interface Recorded {
  readonly settings: Settings;
  readonly model: string;
  readonly affinity: Record<string, string>;
  readonly startedAt: string;
  readonly thresholds: LabelThresholds;
  readonly ports: Readonly<Record<number, string>>;
  readonly results: readonly RunResult[];
}

/** Labels, statistics, planner validation and the report files of recorded runs. */
async function analyzeAndReport(recorded: Recorded): Promise<void> {
  const { settings, model, affinity, startedAt, thresholds, ports, results } = recorded;
  const repeats = [...new Set(results.map((x) => x.repeat))].filter((r) =>
    results.some((x) => x.repeat === r && x.config === "symmetric") &&
    results.some((x) => x.repeat === r && x.config === "routed")
  );
  const analyses: RunAnalysis[] = [];
  const validations: Validation[] = [];
  for (const r of repeats) {
    const sym = results.find((x) => x.repeat === r && x.config === "symmetric")!;
    const routed = results.find((x) => x.repeat === r && x.config === "routed")!;
    const labels = labelsOf([sym, routed], thresholds);
    analyses.push(analyze(sym, labels, ports), analyze(routed, labels, ports));
    // The planner on this repeat's workload log (the symmetric run's events).
    const logPath = join(settings.out, `workload_log_r${r}.jsonl`);
    await writeLog(logPath, sym.events.map((e) => JSON.stringify(e)));
    const predicted = await planLog({
      log: logPath,
      model,
      modelsDir: join(REPO, "models"),
      split: "all",
      bucketMs: 60_000,
      nodeCores: 1,
      nodeCost: 1,
      targetUtil: 0.7,
      routerCores: 0,
      // The Small profile's caps (deploy/trino/cluster.sh): query.max-cpu-time and memory.
      smallMaxCpuSeconds: 5,
      smallMaxMemoryBytes: 256 * 2 ** 20,
    });
    const measured = analyze(routed, labels, ports).cpuSecondsByCluster;
    const p = {
      small: predicted.plan.small.demand.cpuSeconds,
      large: predicted.plan.large.demand.cpuSeconds,
    };
    const m = { small: measured.small ?? 0, large: measured.large ?? 0 };
    validations.push({
      repeat: r,
      predicted: p,
      measured: m,
      error: {
        small: m.small === 0 ? NaN : (p.small - m.small) / m.small,
        large: m.large === 0 ? NaN : (p.large - m.large) / m.large,
      },
      retries: { predicted: predicted.plan.placement.retried, measured: routed.retries },
      smallQueries: {
        predicted: predicted.plan.small.demand.queries,
        measured: routed.events.filter((e) => ports[portOf(e)] === "small").length,
      },
    });
  }
  const report = formatReport(settings, analyses, validations, { model, affinity, startedAt });
  await writeFile(join(settings.out, "report.md"), report);
  await writeFile(join(settings.out, "light_cdf.svg"), cdfChart(analyses, "light"));
  await writeFile(join(settings.out, "heavy_cdf.svg"), cdfChart(analyses, "heavy"));
  await writeFile(
    join(settings.out, "summary.json"),
    JSON.stringify(
      {
        settings,
        model,
        affinity,
        validations,
        analyses: analyses.map(({ light, heavy, ...a }) => ({
          ...a,
          light: { ...light, latencies: undefined },
          heavy: { ...heavy, latencies: undefined },
        })),
      },
      null,
      1,
    ),
  );
  console.log(report);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(),
    options: {
      rate: { type: "string" },
      seconds: { type: "string" },
      repeats: { type: "string" },
      seed: { type: "string" },
      "sf1-scale": { type: "string" },
      "timeout-seconds": { type: "string" },
      warmup: { type: "string" },
      model: { type: "string" },
      out: { type: "string", default: "experiment_report" },
      "run-dir": { type: "string", default: "/tmp/trino-value-experiment" },
      "base-port": { type: "string" },
      "keep-clusters": { type: "boolean", default: false },
      /** Only recompute the report from a finished run's runs.json (into --out). */
      analyze: { type: "string" },
      "cpus-symmetric": { type: "string", default: "0,1" },
      "cpus-small": { type: "string", default: "0" },
      "cpus-large": { type: "string", default: "1" },
    },
  });
  if (values.analyze) {
    const recorded = JSON.parse(await Deno.readTextFile(values.analyze)) as Recorded;
    await mkdir(values.out!, { recursive: true });
    await analyzeAndReport({ ...recorded, settings: { ...recorded.settings, out: values.out! } });
    return;
  }
  const n = (name: string, fallback: number) => numberFlag(values, name) ?? fallback;
  const settings: Settings = {
    rate: n("rate", 4),
    seconds: n("seconds", 120),
    repeats: n("repeats", 3),
    seed: n("seed", 1000),
    sf1Scale: n("sf1-scale", 0.45),
    timeoutSeconds: n("timeout-seconds", 90),
    warmup: n("warmup", 40),
    out: values.out!,
    keepClusters: values["keep-clusters"]!,
    model: values.model,
    runRoot: values["run-dir"]!,
    basePort: n("base-port", 18181),
    cpus: {
      symmetric: values["cpus-symmetric"]!,
      small: values["cpus-small"]!,
      large: values["cpus-large"]!,
    },
  };
  if (!(settings.rate > 0) || !(settings.seconds > 0) || !(settings.repeats >= 1)) {
    throw new Error("--rate, --seconds and --repeats must be positive");
  }
  const model = settings.model ??
    (await Deno.readTextFile(join(REPO, "models/DEFAULT"))).trim();
  const manifest = JSON.parse(
    await Deno.readTextFile(join(REPO, "models", model, "manifest.json")).catch(() => "{}"),
  );
  const thresholds: LabelThresholds = manifest.trainingData?.labelThresholds ??
    { cpuSeconds: 3, peakMemoryBytes: 128 * 2 ** 20 };
  await mkdir(settings.out, { recursive: true });

  const instances: Instance[] = [
    {
      name: "symmetric",
      profile: "large",
      port: settings.basePort + 2,
      runDir: join(settings.runRoot, "symmetric"),
      cpus: settings.cpus.symmetric,
    },
    {
      name: "small",
      profile: "small",
      port: settings.basePort,
      runDir: join(settings.runRoot, "split"),
      cpus: settings.cpus.small,
    },
    {
      name: "large",
      profile: "large",
      port: settings.basePort + 1,
      runDir: join(settings.runRoot, "split"),
      cpus: settings.cpus.large,
    },
  ];
  const [symmetric, small, large] = instances;
  const ports = Object.fromEntries(instances.map((i) => [i.port, i.name]));
  // A fixed port: a server kept from an earlier run (--keep-clusters) still posts its events here.
  const collectorPort = settings.basePort + 10;
  const eventUrl = `http://127.0.0.1:${collectorPort}/v1/events`;
  const collector = await startCollector({ port: collectorPort, slim: true });
  const startedAt = new Date().toISOString();
  const affinity: Record<string, string> = {};
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  let envoy: EnvoyProcess | undefined;
  try {
    // One at a time: three JVMs starting together on two cores take far longer.
    for (const i of instances) affinity[i.name] = await startInstance(i, eventUrl);
    router = await startRouter(large, settings.model);
    envoy = await EnvoyProcess.start({
      router: { host: "127.0.0.1", port: router.port },
      small: { host: "127.0.0.1", port: small.port },
      large: { host: "127.0.0.1", port: large.port },
      extProc: { host: "127.0.0.1", port: router.extProcPort },
    });
    const symmetricUrl = `http://127.0.0.1:${symmetric.port}`;
    const retries = () => router!.metric('trino_router_retries_total{outcome="retried"}');
    const count = Math.max(1, Math.round(settings.rate * settings.seconds));
    const workload = (seed: number, size: number) =>
      generateWorkload({ count: size, seed, smallShare: 0, sf1Scale: settings.sf1Scale });

    if (settings.warmup > 0) {
      // JIT warm-up of each server (and the router), not measured: tiny queries only.
      const warm = generateWorkload({
        count: settings.warmup,
        seed: settings.seed + 999,
        smallShare: 0,
        sf1Scale: 0,
      }).filter((q) => q.catalog !== "memory");
      log(`warm-up: ${warm.length} queries per configuration`);
      for (const url of [symmetricUrl, envoy.url]) {
        const done = await openLoop(warm, url, settings.rate, settings.timeoutSeconds * 1000);
        // Their completion events must land before a measured run starts counting.
        await collector.waitFor(done.map((o) => o.queryId).filter((id) => id !== ""), 30_000);
      }
    }

    const results: RunResult[] = [];
    for (let r = 0; r < settings.repeats; r++) {
      const seed = settings.seed + r;
      const plan = workload(seed, count);
      // Alternate the order so neither configuration always runs on a warmer machine.
      const order = r % 2 === 0
        ? ["symmetric", "routed"] as const
        : ["routed", "symmetric"] as const;
      for (const config of order) {
        await assertAlive(instances);
        results.push(
          await runOnce(
            config,
            r,
            seed,
            plan,
            config === "symmetric" ? symmetricUrl : envoy.url,
            settings,
            collector,
            config === "symmetric" ? () => Promise.resolve(0) : retries,
            new Set(config === "symmetric" ? [symmetric.port] : [small.port, large.port]),
          ),
        );
      }
      await writeFile(
        join(settings.out, "runs.json"),
        JSON.stringify({ settings, model, affinity, startedAt, thresholds, ports, results }),
      );
      await assertAlive(instances);
    }

    await analyzeAndReport({ settings, model, affinity, startedAt, thresholds, ports, results });
  } finally {
    await envoy?.stop();
    await router?.stop();
    await collector.close();
    if (!settings.keepClusters) {
      for (const i of instances) await stopInstance(i, eventUrl);
    }
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`experiment: ${error instanceof Error ? error.stack : error}`);
    Deno.exit(1);
  }
}
