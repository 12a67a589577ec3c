/**
 * Test and benchmark harness: starts Envoy with `deploy/envoy/envoy.yaml` filled in (by
 * `deploy/envoy/render.ts`), on loopback; stops it and keeps its output for diagnosis. Harness
 * code lives here, not in `deploy/`, which holds only what a deployment uses.
 *
 * @module
 */

import { commandRuns, freeLoopbackPort } from "./local_process.ts";
import {
  ENVOY_TEMPLATE_PATH,
  type HostPort,
  type ListenerTls,
  renderEnvoyConfig,
  type RouterTls,
} from "../../deploy/envoy/render.ts";

/** Version of Envoy the template is written for (`.ci/install_envoy.sh` pins it too). */
export const ENVOY_VERSION = "1.40.0";

/** Envoy is not installed where expected; says how to install it. */
export class EnvoyNotInstalledError extends Error {
  override name = "EnvoyNotInstalledError";
}

/**
 * Where the Envoy binary is: `$ENVOY_BIN`, else where `.ci/install_envoy.sh` puts it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { envoyBinary } from "./envoy_process.ts";
 * assert(envoyBinary().endsWith("envoy"));
 * ```
 */
export function envoyBinary(): string {
  const explicit = Deno.env.get("ENVOY_BIN");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`;
  const home = Deno.env.get("ENVOY_HOME") ??
    `${cache}/trino-smart-routing/envoy-${ENVOY_VERSION}`;
  return `${home}/envoy`;
}

/** True when the Envoy binary exists and runs. */
export function envoyInstalled(): Promise<boolean> {
  return commandRuns(envoyBinary(), ["--version"]);
}

/** Options of {@linkcode EnvoyProcess.start}. */
export interface StartEnvoyOptions {
  readonly router: HostPort;
  readonly small: HostPort;
  readonly large: HostPort;
  /** Defaults to a free loopback port. */
  readonly listenPort?: number;
  /** Overrides the template (benchmarks use a static one). */
  readonly template?: string;
  /** The router's ext_proc server: renders the template's transparent-retry sections. */
  readonly extProc?: HostPort;
  /** Envoy worker threads; 2 is plenty on loopback and keeps many test Envoys cheap. */
  readonly concurrency?: number;
  readonly logLevel?: string;
  /** Envoy → router over TLS. */
  readonly routerTls?: RouterTls;
  /** Clients → Envoy over TLS (then {@linkcode EnvoyProcess.url} is `https://localhost:…`). */
  readonly listenerTls?: ListenerTls;
}

/**
 * A running Envoy owned by the caller.
 *
 * @example
 * ```ts ignore
 * // Not run here: needs the Envoy binary (test/integration/envoy_routing_test.ts starts one).
 * const envoy = await EnvoyProcess.start({ router, small, large });
 * await fetch(`${envoy.url}/v1/statement`, { method: "POST", body: "SELECT 1" });
 * await envoy.stop();
 * ```
 */
export class EnvoyProcess {
  #child: Deno.ChildProcess;
  #output: Promise<string>;
  #dir: string;
  #tls: boolean;
  readonly port: number;
  readonly adminPort: number;

  private constructor(
    child: Deno.ChildProcess,
    output: Promise<string>,
    dir: string,
    port: number,
    adminPort: number,
    tls: boolean,
  ) {
    this.#tls = tls;
    this.#child = child;
    this.#output = output;
    this.#dir = dir;
    this.port = port;
    this.adminPort = adminPort;
  }

  /** Base URL of the Trino-facing listener. */
  get url(): string {
    // A TLS listener is reached by the name its certificate carries.
    return this.#tls ? `https://localhost:${this.port}` : `http://127.0.0.1:${this.port}`;
  }

  /** Starts Envoy and waits until its admin `/ready` says LIVE and the listener accepts. */
  static async start(options: StartEnvoyOptions): Promise<EnvoyProcess> {
    const binary = envoyBinary();
    if (!(await envoyInstalled())) {
      throw new EnvoyNotInstalledError(
        `no Envoy at ${binary}: run .ci/install_envoy.sh (or set ENVOY_BIN)`,
      );
    }
    const port = options.listenPort ?? freeLoopbackPort();
    const adminPort = freeLoopbackPort();
    const template = options.template ?? await Deno.readTextFile(ENVOY_TEMPLATE_PATH);
    // Rendered before the temp dir exists, so a bad template leaves nothing behind.
    const config = renderEnvoyConfig(template, {
      listen: { host: "127.0.0.1", port },
      adminPort,
      router: options.router,
      small: options.small,
      large: options.large,
      routerTls: options.routerTls,
      listenerTls: options.listenerTls,
      extProc: options.extProc,
    });
    const dir = await Deno.makeTempDir({ prefix: "envoy-" });
    const configPath = `${dir}/envoy.yaml`;
    await Deno.writeTextFile(configPath, config);
    const child = new Deno.Command(binary, {
      args: [
        "-c",
        configPath,
        "--concurrency",
        String(options.concurrency ?? 2),
        "--log-level",
        options.logLevel ?? "warn",
        // Several Envoys at once (parallel tests) must not share hot-restart shared memory.
        "--disable-hot-restart",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
    ]).then(([out, err]) => out + err);
    const envoy = new EnvoyProcess(
      child,
      output,
      dir,
      port,
      adminPort,
      options.listenerTls !== undefined,
    );
    try {
      await envoy.#waitReady();
    } catch (error) {
      const log = await envoy.stop();
      throw new Error(`Envoy did not start: ${(error as Error).message}\n${log}`);
    }
    return envoy;
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + 15_000;
    let exited = false;
    this.#child.status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      try {
        const response = await fetch(`http://127.0.0.1:${this.adminPort}/ready`);
        const text = await response.text();
        if (response.ok && text.trim() === "LIVE") {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: this.port });
          conn.close();
          return;
        }
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(exited ? "Envoy exited" : "Envoy not ready within 15 s");
  }

  /** Reads one counter or gauge from the admin `/stats` endpoint (0 when absent). */
  async stat(name: string): Promise<number> {
    const response = await fetch(
      `http://127.0.0.1:${this.adminPort}/stats?filter=^${name.replaceAll(".", "\\.")}$`,
    );
    const text = await response.text();
    const match = text.match(/: (\d+)/);
    return match ? Number(match[1]) : 0;
  }

  /** Stops Envoy and returns everything it printed (access log included). */
  async stop(): Promise<string> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already exited
    }
    await this.#child.status;
    const output = await this.#output;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    return output;
  }
}
