/**
 * Test helper for the real-Trino suites: finds (or, when asked, starts) the Small and Large
 * clusters of deploy/trino/cluster.sh, runs queries with the Trino Python client and asks each
 * cluster which queries it ran.
 *
 * @module
 */

import assert from "node:assert/strict";
import { runQuery } from "../integration/envoy_harness.ts";

export const SMALL_PORT = Number(Deno.env.get("TRINO_SMALL_PORT") ?? 18081);
export const LARGE_PORT = Number(Deno.env.get("TRINO_LARGE_PORT") ?? 18082);
export const REPO = new URL("../../", import.meta.url).pathname;
const CLIENT_SCRIPT = new URL("./envoy_trino_client.py", import.meta.url).pathname;
const CLIENT_HOME = `${Deno.env.get("HOME")}/.cache/trino-smart-routing/trino-client`;
const PYTHON = Deno.env.get("TRINO_PYTHON") ?? `${CLIENT_HOME}/bin/python`;

async function trinoUp(port: number): Promise<boolean> {
  try {
    const info = await (await fetch(`http://127.0.0.1:${port}/v1/info`)).json();
    return info.starting === false;
  } catch {
    return false;
  }
}

export async function sh(command: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command(command, {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Clusters this suite started itself (and so stops); running ones are shared and left alone. */
export const startedHere: string[] = [];

export async function ensureTrino(): Promise<boolean> {
  for (const [profile, port] of [["small", SMALL_PORT], ["large", LARGE_PORT]] as const) {
    if (await trinoUp(port)) continue;
    if (!Deno.env.get("E2E_START_TRINO") && !Deno.env.get("CI")) return false;
    await sh("bash", [`${REPO}deploy/trino/cluster.sh`, "start", profile]);
    startedHere.push(profile);
  }
  return true;
}

export async function ensurePythonClient(): Promise<void> {
  try {
    await sh(PYTHON, ["-c", "import trino"]);
  } catch {
    await sh("python3", ["-m", "venv", CLIENT_HOME]);
    await sh(`${CLIENT_HOME}/bin/pip`, ["install", "--quiet", "trino"]);
  }
}

export interface ClientResult {
  queryId: string | null;
  rows: number;
  first: unknown;
  error: string | null;
}

/** Runs `sql` with the Trino Python client against a proxy on `port` (Envoy or the gateway). */
export async function client(
  port: number,
  sql: string,
  options: { mode?: "run" | "cancel"; headers?: Record<string, string> } = {},
): Promise<ClientResult> {
  const headers = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}=${v}`);
  const { stdout, stderr, success } = await new Deno.Command(PYTHON, {
    args: [CLIENT_SCRIPT, String(port), options.mode ?? "run", sql, ...headers],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** What a cluster itself says about a query id (null: it never ran it). */
export async function askCluster(
  port: number,
  queryId: string,
): Promise<{ state: string; errorCode: string | null } | null> {
  const { rows } = await runQuery(
    `http://127.0.0.1:${port}`,
    `SELECT state, error_code FROM system.runtime.queries WHERE query_id = '${queryId}'`,
  );
  if (rows.length === 0) return null;
  const [state, errorCode] = rows[0] as [string, string | null];
  return { state, errorCode };
}

/** Which cluster ran `queryId`, by asking both. */
export async function whereRan(
  queryId: string | null,
): Promise<"small" | "large" | "none" | "both"> {
  assert.ok(queryId, "the client got no query id");
  const [small, large] = await Promise.all([
    askCluster(SMALL_PORT, queryId),
    askCluster(LARGE_PORT, queryId),
  ]);
  if (small && large) return "both";
  return small ? "small" : large ? "large" : "none";
}

/** Stops the clusters this process started (none when they were already running). */
export function stopStartedClusters(): void {
  for (const profile of startedHere.splice(0)) {
    new Deno.Command("bash", { args: [`${REPO}deploy/trino/cluster.sh`, "stop", profile] })
      .outputSync();
  }
}

/** Heavy for the heuristic (more than three joins), cheap for Trino. */
export const HEAVY = "SELECT count(*) FROM tpch.tiny.nation n JOIN tpch.tiny.region r " +
  "ON n.regionkey = r.regionkey JOIN tpch.tiny.nation n2 ON n2.nationkey = n.nationkey " +
  "JOIN tpch.tiny.region r2 ON r2.regionkey = n2.regionkey " +
  "JOIN tpch.tiny.nation n3 ON n3.nationkey = n2.nationkey";

/** Light for the heuristic. */
export const LIGHT = "SELECT count(*) FROM tpch.tiny.nation";
