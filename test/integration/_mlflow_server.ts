/**
 * Test helper: a real MLflow tracking server (PyPI `mlflow`, from `.ci/install_mlops.sh`) on a
 * free loopback port, with a SQLite backend store and a local artifact root in a temp folder,
 * serving artifacts through its proxy (`mlflow-artifacts:/`). Starting it takes seconds, so a
 * test file starts one and shares it.
 *
 * @module
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPort } from "../../tools/harness/local_process.ts";

const INSTALL = new URL("../../.ci/install_mlops.sh", import.meta.url).pathname;

/** The MLOps virtualenv's path, installing it first if needed (idempotent, slow only once). */
export async function mlopsVenv(): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [INSTALL],
    stdout: "piped",
    stderr: "inherit",
  })
    .output();
  if (!out.success) throw new Error(`${INSTALL} failed with exit code ${out.code}`);
  return new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
}

/** A running MLflow server owned by a test. */
export interface MlflowServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts the server and waits until `/health` answers (up to `timeoutMs`). */
export async function startMlflowServer(timeoutMs = 120_000): Promise<MlflowServer> {
  const venv = await mlopsVenv();
  const dir = await mkdtemp(join(tmpdir(), "mlflow-server-"));
  const port = freeLoopbackPort();
  const child = new Deno.Command(join(venv, "bin", "mlflow"), {
    args: [
      "server",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--backend-store-uri",
      `sqlite:///${join(dir, "mlflow.db")}`,
      "--artifacts-destination",
      join(dir, "artifacts"),
      "--workers",
      "1",
    ],
    cwd: dir,
    stdout: "null",
    stderr: "null",
    // No job runner: it forks a dozen worker processes the registry never needs.
    env: {
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false",
      MLFLOW_DISABLE_TELEMETRY: "true",
      DO_NOT_TRACK: "true",
    },
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/health`).then(async (r) => {
      await r.body?.cancel();
      return r.ok;
    }, () => false);
    if (ok) return { url, stop };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`MLflow server on ${url} did not answer /health within ${timeoutMs} ms`);
}
