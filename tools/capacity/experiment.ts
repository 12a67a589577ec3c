/**
 * The value experiment on real Trino: one mixed open-loop workload run against a symmetric
 * Trino on all cores, and against Small (one core) + Large (the other) behind Envoy and the
 * router with transparent retry; light/heavy latency, failures, retries and CPU per cluster,
 * repeated, with latency CDF plots and the planner's CPU prediction checked against the clusters'
 * completion events. Each server's process CPU (`/proc/<pid>/stat`) is measured beside the events'
 * task CPU; `--calibrate` picks the arrival rate from it.
 *
 * ```sh
 * npx deno task experiment -- [--rate 4] [--seconds 120] [--repeats 3] [--out experiment_report]
 * npx deno task experiment -- --calibrate 2,3,4 [--target-util 0.65] [--repeats 3]
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
import { type CalibratedRate, calibrateRate, type CalibrationPoint } from "./calibration.ts";
import { processCpuSeconds } from "./process_cpu.ts";
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
  /** Small's resource-group hardConcurrencyLimit and maxQueued (cluster.sh env overrides). */
  readonly small: { concurrency: number; maxQueued: number };
  /** Trial rates for the calibration (none: `rate` as given). */
  readonly calibrate: readonly number[];
  readonly calibrateSeconds: number;
  /** Share of the symmetric server's cores the calibrated rate aims at. */
  readonly targetUtil: number;
}

/** The calibration as recorded: trial runs, idle burn, the rate it chose. */
interface Calibration {
  readonly points: readonly (CalibrationPoint & { lightP90: number; failures: number })[];
  readonly idleCores: number;
  readonly chosen: CalibratedRate;
  /** The routed warm-up at the first trial rate (not a trial: shown for Small's and Large's CPU). */
  readonly routedWarmup?: {
    rate: number;
    wallSeconds: number;
    processCpuSeconds: Readonly<Record<string, number>>;
    lightP90: number;
    failures: number;
    retries: number;
  };
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

function instanceEnv(
  i: Instance,
  eventUrl: string,
  small?: Settings["small"],
): Record<string, string> {
  return {
    TRINO_RUN_DIR: i.runDir,
    [i.profile === "small" ? "TRINO_SMALL_PORT" : "TRINO_LARGE_PORT"]: String(i.port),
    TRINO_EVENT_URL: eventUrl,
    ...(small
      ? {
        TRINO_SMALL_HARD_CONCURRENCY: String(small.concurrency),
        TRINO_SMALL_MAX_QUEUED: String(small.maxQueued),
      }
      : {}),
  };
}

/** Starts (or reuses) an instance pinned to its CPUs; returns its JVM's pid and verified affinity. */
async function startInstance(
  i: Instance,
  eventUrl: string,
  small: Settings["small"],
): Promise<{ pid: number; affinity: string }> {
  log(`starting ${i.name} (${i.profile} profile) on :${i.port}, cpus ${i.cpus}`);
  // The launcher forks the JVM, which inherits the affinity set here.
  await run(
    "taskset",
    ["-c", i.cpus, "bash", CLUSTER_SH, "start", i.profile],
    instanceEnv(i, eventUrl, small),
  );
  if (i.profile === "small") await assertSmallLimits(i, small);
  const pid = (await Deno.readTextFile(join(i.runDir, i.profile, "launcher.pid"))).trim();
  return { pid: Number(pid), affinity: (await run("taskset", ["-pc", pid])).trim() };
}

/**
 * Throws unless the running Small has the requested resource-group limits: a server kept from an
 * earlier run (`--keep-clusters`) keeps the limits it started with.
 */
async function assertSmallLimits(i: Instance, want: Settings["small"]): Promise<void> {
  const path = join(i.runDir, i.profile, "etc/resource-groups.json");
  const group = JSON.parse(await Deno.readTextFile(path)).rootGroups?.[0] ?? {};
  if (group.hardConcurrencyLimit !== want.concurrency || group.maxQueued !== want.maxQueued) {
    throw new Error(
      `${i.name} runs with hardConcurrencyLimit ${group.hardConcurrencyLimit}, maxQueued ` +
        `${group.maxQueued} (${path}), not the requested ${want.concurrency}/${want.maxQueued}: ` +
        "stop it (deploy/trino/cluster.sh stop small with its TRINO_RUN_DIR) and rerun",
    );
  }
}

/** Process CPU-seconds of every server now, by name. */
function cpuNow(pids: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]),
  );
}

const cpuSince = (before: Record<string, number>, pids: Readonly<Record<string, number>>) => {
  const now = cpuNow(pids);
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]));
};

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
  ports?: { port: number; extProcPort: number },
): Promise<
  {
    port: number;
    extProcPort: number;
    metric: (name: string) => Promise<number>;
    decisionsByReason: () => Promise<Record<string, number>>;
    stop: () => Promise<void>;
  }
> {
  const port = ports?.port ?? freeLoopbackPort();
  const extProcPort = ports?.extProcPort ?? freeLoopbackPort();
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
    async decisionsByReason() {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const counts: Record<string, number> = {};
      for (const line of text.split("\n")) {
        const m = /^trino_router_decisions_total\{decision="(\w+)",reason="([\w-]+)"[^}]*\} (\S+)$/
          .exec(line);
        if (m) counts[`${m[1]}/${m[2]}`] = (counts[`${m[1]}/${m[2]}`] ?? 0) + Number(m[3]);
      }
      return counts;
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
  pids: Readonly<Record<string, number>>,
  decisions?: () => Promise<Record<string, number>>,
): Promise<RunResult> {
  const before = new Set(collector.events.keys());
  const retriesBefore = await retries();
  const load0 = loadAverage();
  const cpu0 = cpuNow(pids);
  const t0 = performance.now();
  log(`repeat ${repeat} ${config}: ${plan.length} queries at ${settings.rate}/s`);
  const outcomes = await openLoop(plan, baseUrl, settings.rate, settings.timeoutSeconds * 1000);
  const wallSeconds = (performance.now() - t0) / 1000;
  const processCpu = cpuSince(cpu0, pids);
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
    processCpuSeconds: processCpu,
    ...(decisions ? { decisions: await decisions() } : {}),
  };
  log(
    `repeat ${repeat} ${config}: ${wallSeconds.toFixed(0)} s, ${events.length} events, ` +
      `${result.retries} retries, load ${result.load.map((l) => l.toFixed(1)).join("→")}, ` +
      `process CPU-s ${
        Object.entries(processCpu).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")
      }`,
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
  /** The servers' process CPU-seconds over the routed run (beside `measured`, the events' task CPU). */
  readonly process?: { small: number; large: number };
}

/** Cores in a `taskset -c` list ("0,1", "0-3"). */
function coresOf(list: string): number {
  return list.split(",").reduce((n, part) => {
    const [a, b] = part.split("-").map(Number);
    return n + (b === undefined ? 1 : b - a + 1);
  }, 0);
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
  meta: {
    model: string;
    affinity: Record<string, string>;
    startedAt: string;
    calibration?: Calibration;
    idleCores?: Readonly<Record<string, number>>;
    /** Routed runs' router decisions by class/reason, by repeat. */
    decisions?: readonly (readonly [number, Readonly<Record<string, number>>])[];
  },
): string {
  const cores = (server: string) =>
    coresOf(settings.cpus?.[server as keyof Settings["cpus"]] ?? "0");
  /** Which servers a configuration runs on. */
  const serversOf = (config: string) => config === "symmetric" ? ["symmetric"] : ["small", "large"];
  const cpuRows = analyses.flatMap((a) =>
    serversOf(a.config).map((server) => {
      const task = a.cpuSecondsByCluster[server] ?? 0;
      const proc = a.processCpuByServer[server];
      const queries = a.eventsByCluster?.[server] ?? 0;
      const lead = `| ${a.repeat} | ${a.config} | ${server} | ${queries} | ${task.toFixed(1)}`;
      if (proc === undefined) return `${lead} | n/a | n/a | n/a | n/a |`;
      // What each query cost the server beyond its own task CPU and the idle burn.
      const overhead = (proc - (meta.idleCores?.[server] ?? 0) * a.wallSeconds - task) / queries;
      return `${lead} | ${proc.toFixed(1)} | ${pct(proc / (a.wallSeconds * cores(server)))} | ${
        pct(proc > 0 ? task / proc : null)
      } | ${queries ? overhead.toFixed(3) : "n/a"} |`;
    })
  );
  const calibrationLines = meta.calibration
    ? [
      "## Calibration (symmetric server, process CPU)",
      "",
      `Trial runs of ${settings.calibrateSeconds} s each on the symmetric server (${
        cores("symmetric")
      } cores) after the warm-up; its idle burn (no queries, 10 s) was ${
        meta.calibration.idleCores.toFixed(3)
      } cores. Offered load = process CPU-s of the run / (arrival seconds × cores).`,
      "",
      "| rate (queries/s) | queries | process CPU-s | offered load | busy over the run | light P90 (ms) | failures |",
      "|---|---|---|---|---|---|---|",
      ...meta.calibration.points.map((p) =>
        `| ${p.rate} | ${p.queries} | ${p.processCpuSeconds.toFixed(1)} | ${
          pct(p.processCpuSeconds / (p.arrivalSeconds * cores("symmetric")))
        } | ${pct(p.processCpuSeconds / (p.wallSeconds * cores("symmetric")))} | ${
          ms(p.lightP90)
        } | ${p.failures} |`
      ),
      "",
      `Process CPU per query beyond idle: ${
        meta.calibration.chosen.cpuSecondsPerQuery.toFixed(3)
      } s${
        meta.calibration.chosen.saturated.length
          ? ` (saturated, left out: ${meta.calibration.chosen.saturated.join(", ")}/s)`
          : ""
      }. **Chosen rate: ${meta.calibration.chosen.rate}/s** for ${
        pct(settings.targetUtil)
      } of the symmetric server's cores.`,
      "",
      ...(meta.calibration.routedWarmup
        ? [
          ((w) =>
            `The routed warm-up before the trials (${w.rate}/s, ${settings.calibrateSeconds} s, ` +
            `sf1 scans included, light labels from its own events) ran ${
              w.wallSeconds.toFixed(0)
            } s: light P90 ${ms(w.lightP90)} ms, ${w.failures} failures, ${w.retries} retries, ` +
            `process CPU-s ${
              Object.entries(w.processCpuSeconds).map(([k, v]) =>
                `${k} ${v.toFixed(1)} (${pct(v / (w.wallSeconds * cores(k)))} busy)`
              ).join(", ")
            }.`)(meta.calibration.routedWarmup),
          "",
        ]
        : []),
    ]
    : [];
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
    `${settings.seconds} s of open-loop arrivals at ${settings.rate} queries/s${
      meta.calibration ? " (chosen by the calibration below)" : ""
    } (seed ${settings.seed}` +
    ` + repeat; sf1 scale ${settings.sf1Scale}; client timeout ${settings.timeoutSeconds} s; ` +
    `${settings.warmup} warm-up queries per server first). Latency = client-side, POST to last ` +
    "page, retries included. Light/heavy by the label rules on the symmetric run's completion " +
    "event of the same query (the routed run's when that one was cancelled).",
    "",
    "CPU affinity as verified with `taskset -p`: " +
    Object.entries(meta.affinity).map(([k, v]) => `${k}: ${v}`).join("; "),
    "",
    settings.small
      ? `Small's resource group: hardConcurrencyLimit ${settings.small.concurrency}, maxQueued ` +
        `${settings.small.maxQueued} (verified in its resource-groups.json); its per-query caps ` +
        "(5 CPU-s, 256 MB) unchanged. Symmetric and Large: the Large profile (8 / 500)."
      : "Small's resource group: the cluster.sh defaults of the time (4 / 50).",
    "",
    ...(meta.idleCores
      ? [
        "Idle burn of each server (10 s without queries, cores): " +
        Object.entries(meta.idleCores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ") +
        ". All three servers stay up all along, so each run also pays the idle ones' burn.",
        "",
      ]
      : []),
    ...calibrationLines,
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
    "| repeat | config | class | queries | P50 | P90 | P99 | failures | retries | task CPU-s by server | load (1 min) | unlabeled |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    ...(meta.decisions?.length
      ? [
        "## Router decisions in the routed runs (class/reason: count)",
        "",
        ...meta.decisions.map(([repeat, d]) =>
          `- repeat ${repeat}: ${Object.entries(d).map(([k, v]) => `${k} ${v}`).join(", ")}`
        ),
        "",
      ]
      : []),
    "## CPU: completion events' task CPU vs the servers' process CPU",
    "",
    "Task CPU = the sum of `cpuTime` of the server's completion events (what the planner works " +
    "from); process CPU = the JVM's user + system time over the run (`/proc/<pid>/stat`), which " +
    "adds the coordinator's parsing, planning and scheduling, the HTTP protocol and the event " +
    "listener, JIT, GC and idle burn. Busy = process CPU / (run seconds × the server's cores); " +
    "overhead per query = (process CPU − idle burn × run seconds − task CPU) / events.",
    "",
    "| repeat | config | server | events | task CPU-s | process CPU-s | busy | task share of process | overhead per query (CPU-s) |",
    "|---|---|---|---|---|---|---|---|---|",
    ...cpuRows,
    "",
    "## Planner validation (CPU-seconds per cluster)",
    "",
    "The planner replays the symmetric run's completion events (the workload's log) through the " +
    "router and predicts each cluster's **task CPU** (it has nothing else: a query log carries " +
    "event CPU); measured = the Small and Large servers' own completion events in the routed run " +
    "of the same repeat, so the error compares task CPU with task CPU. The servers' process CPU " +
    "is beside it: what a cluster's cores really spent.",
    "",
    "| repeat | Small predicted | Small measured | error | Small process | Large predicted | Large measured | error | Large process | retries predicted / made | queries on Small predicted / ran |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...validations.map((v) =>
      `| ${v.repeat} | ${v.predicted.small.toFixed(1)} | ${v.measured.small.toFixed(1)} | ${
        pct(v.error.small)
      } | ${v.process ? v.process.small.toFixed(1) : "n/a"} | ${v.predicted.large.toFixed(1)} | ${
        v.measured.large.toFixed(1)
      } | ${pct(v.error.large)} | ${
        v.process ? v.process.large.toFixed(1) : "n/a"
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
  readonly calibration?: Calibration;
  /** Each server's idle burn in cores, measured after the warm-up. */
  readonly idleCores?: Readonly<Record<string, number>>;
}

/** Labels, statistics, planner validation and the report files of recorded runs. */
async function analyzeAndReport(recorded: Recorded): Promise<void> {
  const { settings, model, affinity, startedAt, thresholds, ports, results } = recorded;
  const { calibration, idleCores } = recorded;
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
    const proc = routed.processCpuSeconds;
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
      ...(proc ? { process: { small: proc.small ?? 0, large: proc.large ?? 0 } } : {}),
    });
  }
  const report = formatReport(settings, analyses, validations, {
    model,
    affinity,
    startedAt,
    calibration,
    idleCores,
    decisions: results.flatMap((x) =>
      x.config === "routed" && x.decisions ? [[x.repeat, x.decisions] as const] : []
    ),
  });
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
        calibration,
        idleCores,
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
      "small-concurrency": { type: "string" },
      "small-queue": { type: "string" },
      /** Comma-separated trial rates: calibrate the rate on the symmetric server first. */
      calibrate: { type: "string" },
      "calibrate-seconds": { type: "string" },
      "target-util": { type: "string" },
    },
  });
  if (values.analyze) {
    const recorded = JSON.parse(await Deno.readTextFile(values.analyze)) as Recorded;
    await mkdir(values.out!, { recursive: true });
    await analyzeAndReport({ ...recorded, settings: { ...recorded.settings, out: values.out! } });
    return;
  }
  const n = (name: string, fallback: number) => numberFlag(values, name) ?? fallback;
  const calibrate = values.calibrate === undefined ? [] : values.calibrate.split(",").map((r) => {
    const rate = Number(r);
    if (r.trim() === "" || !(rate > 0)) {
      throw new Error(`--calibrate takes positive rates like 2,3,4, got ${values.calibrate}`);
    }
    return rate;
  });
  let settings: Settings = {
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
    // A Small serving interactive traffic admits many light queries at once (they share its core
    // instead of queueing behind four slots) and queues rather than fails a burst; see README.
    small: { concurrency: n("small-concurrency", 32), maxQueued: n("small-queue", 1000) },
    calibrate,
    calibrateSeconds: n("calibrate-seconds", 40),
    targetUtil: n("target-util", 0.65),
  };
  if (
    !(settings.rate > 0) || !(settings.seconds > 0) ||
    !(settings.repeats >= (calibrate.length ? 0 : 1))
  ) {
    throw new Error(
      "--rate, --seconds and --repeats must be positive (--repeats 0: calibrate only)",
    );
  }
  if (!Number.isInteger(settings.small.concurrency) || settings.small.concurrency < 1) {
    throw new Error(`--small-concurrency must be a positive integer`);
  }
  if (!Number.isInteger(settings.small.maxQueued)) {
    throw new Error(`--small-queue must be a non-negative integer`);
  }
  if (!(settings.targetUtil > 0 && settings.targetUtil < 1)) {
    throw new Error(`--target-util must be in (0, 1), got ${settings.targetUtil}`);
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
  const pids: Record<string, number> = {};
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  let envoy: EnvoyProcess | undefined;
  try {
    // One at a time: three JVMs starting together on two cores take far longer.
    for (const i of instances) {
      ({ affinity: affinity[i.name], pid: pids[i.name] } = await startInstance(
        i,
        eventUrl,
        settings.small,
      ));
    }
    router = await startRouter(large, settings.model);
    envoy = await EnvoyProcess.start({
      router: { host: "127.0.0.1", port: router.port },
      small: { host: "127.0.0.1", port: small.port },
      large: { host: "127.0.0.1", port: large.port },
      extProc: { host: "127.0.0.1", port: router.extProcPort },
    });
    const symmetricUrl = `http://127.0.0.1:${symmetric.port}`;
    const retries = () => router!.metric('trino_router_retries_total{outcome="retried"}');
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

    // Each server's burn with no queries: what a run pays before any query's own work.
    const idle0 = cpuNow(pids), idleT0 = performance.now();
    await new Promise((r) => setTimeout(r, 10_000));
    const idleSeconds = (performance.now() - idleT0) / 1000;
    const idleCores = Object.fromEntries(
      Object.entries(cpuSince(idle0, pids)).map(([k, v]) => [k, v / idleSeconds]),
    );
    log(`idle burn (cores): ${JSON.stringify(idleCores)}`);

    const runConfig = async (
      config: RunResult["config"],
      repeat: number,
      seed: number,
      plan: readonly PlannedQuery[],
      at: Settings,
    ) => {
      if (config === "routed") {
        // A fresh router (same ports, so Envoy needs no change) per routed run: its memory store's
        // template cache would otherwise carry marks from the warm-up or an earlier run. At 02:04
        // a cold Small at load 50 timed out (60 s) on warm-up queries, which marked their
        // templates heavy for 24 h and sent 313 of 600 later queries to Large.
        const ports = { port: router!.port, extProcPort: router!.extProcPort };
        await router!.stop();
        router = await startRouter(large, settings.model, ports);
      }
      return await runOnce(
        config,
        repeat,
        seed,
        plan,
        config === "symmetric" ? symmetricUrl : envoy!.url,
        at,
        collector,
        config === "symmetric" ? () => Promise.resolve(0) : retries,
        new Set(config === "symmetric" ? [symmetric.port] : [small.port, large.port]),
        pids,
        config === "routed" ? () => router!.decisionsByReason() : undefined,
      );
    };

    let calibration: Calibration | undefined;
    if (settings.calibrate.length) {
      // The routed servers' warm-up with the real mix (sf1 scans included: their JIT paths differ
      // from tiny's); the symmetric server gets its own from the trial runs below.
      const first = {
        ...settings,
        rate: settings.calibrate[0],
        seconds: settings.calibrateSeconds,
      };
      log(`routed warm-up with the workload mix at ${first.rate}/s`);
      const warmRun = await runConfig(
        "routed",
        -1,
        settings.seed + 700,
        workload(settings.seed + 700, Math.round(first.rate * first.seconds)),
        first,
      );
      const warmAnalysis = analyze(warmRun, labelsOf([warmRun], thresholds), ports);
      const routedWarmup = {
        rate: first.rate,
        wallSeconds: warmRun.wallSeconds,
        processCpuSeconds: warmRun.processCpuSeconds ?? {},
        lightP90: warmAnalysis.light.latency.p90,
        failures: warmAnalysis.light.failures + warmAnalysis.heavy.failures,
        retries: warmRun.retries,
      };
      const points: Calibration["points"][number][] = [];
      for (const [k, rate] of settings.calibrate.entries()) {
        await assertAlive(instances);
        const at = { ...settings, rate, seconds: settings.calibrateSeconds };
        const plan = workload(settings.seed + 500 + k, Math.max(1, Math.round(rate * at.seconds)));
        const trial = await runConfig("symmetric", -1, settings.seed + 500 + k, plan, at);
        const a = analyze(trial, labelsOf([trial], thresholds), ports);
        points.push({
          rate,
          queries: plan.length,
          arrivalSeconds: plan.length / rate,
          wallSeconds: trial.wallSeconds,
          processCpuSeconds: trial.processCpuSeconds?.symmetric ?? 0,
          lightP90: a.light.latency.p90,
          failures: a.light.failures + a.heavy.failures,
        });
      }
      // Kept before the fit, which refuses all-saturated trials.
      await writeFile(
        join(settings.out, "calibration.json"),
        JSON.stringify({ points, idleCores, routedWarmup }, null, 1),
      );
      const chosen = calibrateRate(points, {
        idleCores: idleCores.symmetric ?? 0,
        cores: coresOf(settings.cpus.symmetric),
        target: settings.targetUtil,
      });
      calibration = { points, idleCores: idleCores.symmetric ?? 0, chosen, routedWarmup };
      log(`calibrated rate ${chosen.rate}/s (${chosen.cpuSecondsPerQuery.toFixed(3)} CPU-s/query)`);
      if (!(chosen.rate > 0)) throw new Error("calibration chose no positive rate");
      settings = { ...settings, rate: chosen.rate };
    }
    const count = Math.max(1, Math.round(settings.rate * settings.seconds));

    const results: RunResult[] = [];
    const recorded = (): Recorded => ({
      settings,
      model,
      affinity,
      startedAt,
      thresholds,
      ports,
      results,
      calibration,
      idleCores,
    });
    for (let r = 0; r < settings.repeats; r++) {
      const seed = settings.seed + r;
      const plan = workload(seed, count);
      // Alternate the order so neither configuration always runs on a warmer machine.
      const order = r % 2 === 0
        ? ["symmetric", "routed"] as const
        : ["routed", "symmetric"] as const;
      for (const config of order) {
        await assertAlive(instances);
        results.push(await runConfig(config, r, seed, plan, settings));
      }
      await writeFile(join(settings.out, "runs.json"), JSON.stringify(recorded()));
      await assertAlive(instances);
    }

    await writeFile(join(settings.out, "runs.json"), JSON.stringify(recorded()));
    await analyzeAndReport(recorded());
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
