/**
 * Starts Envoy with `deploy/envoy/envoy.yaml` filled in, on loopback, for tests, benchmarks and
 * local runs; stops it and keeps its output for diagnosis.
 *
 * @module
 */

import { commandRuns, freeLoopbackPort } from "../local_process.ts";

/** A `host:port` pair. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Values of the template's placeholders. */
export interface EnvoyConfigValues {
  readonly listen: HostPort;
  readonly adminPort: number;
  readonly router: HostPort;
  readonly small: HostPort;
  readonly large: HostPort;
  /** Envoy → router over TLS: the CA that verifies the router and the name it must carry. */
  readonly routerTls?: RouterTls;
  /** Clients → Envoy over TLS: the listener's certificate chain and key. */
  readonly listenerTls?: ListenerTls;
}

/** How Envoy verifies the router's certificate. */
export interface RouterTls {
  readonly caFile: string;
  /** Sent as SNI and required among the certificate's DNS names. */
  readonly serverName: string;
}

/** The certificate Envoy presents to Trino clients. */
export interface ListenerTls {
  readonly certFile: string;
  readonly keyFile: string;
}

const TLS_SOCKET = "envoy.transport_sockets.tls";
const TLS_TYPES = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3";

// One-line flow mappings: they fill a placeholder at any indentation.
// `alpn`: the ext_proc gRPC server speaks HTTP/2 only and insists on ALPN h2; the ext_authz
// cluster speaks HTTP/1.1 and must not be offered h2.
function routerTlsYaml(tls: RouterTls | undefined, alpn: string[] = []): string {
  if (!tls) return "";
  return `transport_socket: { name: ${TLS_SOCKET}, typed_config: { "@type": ${TLS_TYPES}.UpstreamTlsContext, sni: ${
    JSON.stringify(tls.serverName)
  }, common_tls_context: { alpn_protocols: ${
    JSON.stringify(alpn)
  }, validation_context: { trusted_ca: { filename: ${
    JSON.stringify(tls.caFile)
  } }, match_typed_subject_alt_names: [{ san_type: DNS, matcher: { exact: ${
    JSON.stringify(tls.serverName)
  } } }] } } } }`;
}

function listenerTlsYaml(tls: ListenerTls | undefined): string {
  if (!tls) return "";
  return `transport_socket: { name: ${TLS_SOCKET}, typed_config: { "@type": ${TLS_TYPES}.DownstreamTlsContext, common_tls_context: { tls_certificates: [{ certificate_chain: { filename: ${
    JSON.stringify(tls.certFile)
  } }, private_key: { filename: ${JSON.stringify(tls.keyFile)} } }] } } }`;
}

/** The config template next to this file. */
export const ENVOY_TEMPLATE_PATH = new URL("./envoy.yaml", import.meta.url).pathname;

/** The retry variant (ext_authz + ext_proc transparent retry), next to this file. */
export const RETRY_TEMPLATE_PATH = new URL("./envoy_retry.yaml", import.meta.url).pathname;

/**
 * Fills the retry template's own placeholders (the ext_proc server); the common ones are left to
 * {@linkcode renderEnvoyConfig}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderRetryTemplate } from "./envoy_process.ts";
 * const yaml = renderRetryTemplate("{{EXT_PROC_HOST}}:{{EXT_PROC_PORT}}", {
 *   host: "127.0.0.1",
 *   port: 9002,
 * });
 * assert.equal(yaml, "127.0.0.1:9002");
 * ```
 */
export function renderRetryTemplate(template: string, extProc: HostPort): string {
  return template
    .replaceAll("{{EXT_PROC_HOST}}", extProc.host)
    .replaceAll("{{EXT_PROC_PORT}}", String(extProc.port));
}

/** Version of Envoy the template is written for (`.ci/install_envoy.sh` pins it too). */
export const ENVOY_VERSION = "1.40.0";

/** Envoy is not installed where expected; says how to install it. */
export class EnvoyNotInstalledError extends Error {
  override name = "EnvoyNotInstalledError";
}

/**
 * Fills the template's `{{PLACEHOLDERS}}`; throws if one is left, so a template change cannot
 * silently start Envoy with a literal `{{...}}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderEnvoyConfig } from "./envoy_process.ts";
 * const yaml = renderEnvoyConfig("port: {{LISTEN_PORT}}", {
 *   listen: { host: "127.0.0.1", port: 8080 }, adminPort: 9901,
 *   router: { host: "127.0.0.1", port: 1 }, small: { host: "127.0.0.1", port: 2 },
 *   large: { host: "127.0.0.1", port: 3 },
 * });
 * assert(yaml === "port: 8080");
 * ```
 */
export function renderEnvoyConfig(template: string, values: EnvoyConfigValues): string {
  const map: Record<string, string | number> = {
    LISTEN_ADDRESS: values.listen.host,
    LISTEN_PORT: values.listen.port,
    ADMIN_PORT: values.adminPort,
    ROUTER_HOST: values.router.host,
    ROUTER_PORT: values.router.port,
    SMALL_HOST: values.small.host,
    SMALL_PORT: values.small.port,
    LARGE_HOST: values.large.host,
    LARGE_PORT: values.large.port,
    ROUTER_TLS: routerTlsYaml(values.routerTls),
    // The ext_proc server is the router process too: same certificate (envoy_retry.yaml only).
    EXT_PROC_TLS: routerTlsYaml(values.routerTls, ["h2"]),
    LISTENER_TLS: listenerTlsYaml(values.listenerTls),
  };
  const rendered = template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => {
    const value = map[name];
    return value === undefined ? whole : String(value);
  });
  const left = rendered.match(/\{\{[A-Z_]+\}\}/);
  if (left) throw new Error(`envoy template placeholder ${left[0]} has no value`);
  return rendered;
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
