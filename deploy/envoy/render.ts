/**
 * Renders Envoy's configuration templates (`envoy.yaml`, `envoy_retry.yaml`): the one renderer
 * the local runner, the test harness and the Kubernetes manifests fill placeholders with.
 *
 * @module
 */

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
 * import { renderRetryTemplate } from "./render.ts";
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

/**
 * Fills the template's `{{PLACEHOLDERS}}`; throws if one is left, so a template change cannot
 * silently start Envoy with a literal `{{...}}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderEnvoyConfig } from "./render.ts";
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

/** `host:port` from two variables, with defaults (the CLI's environment). */
function hostPortFromEnv(
  env: (name: string) => string | undefined,
  prefix: string,
  host: string,
  port: number,
): HostPort {
  return { host: env(`${prefix}_HOST`) || host, port: Number(env(`${prefix}_PORT`) || port) };
}

/**
 * The loopback configuration `deploy/envoy/run.sh` starts: plaintext, every address from the
 * environment or the defaults of `deno task serve` and `deploy/trino/cluster.sh`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderFromEnv } from "./render.ts";
 * const env = { ENVOY_PORT: "8191", SMALL_PORT: "28081" } as Record<string, string>;
 * const yaml = renderFromEnv((name) => env[name], "envoy_retry.yaml");
 * assert.ok(yaml.includes("8191") && yaml.includes("28081") && !yaml.includes("{{"));
 * ```
 */
export function renderFromEnv(env: (name: string) => string | undefined, file: string): string {
  if (file !== "envoy.yaml" && file !== "envoy_retry.yaml") {
    throw new Error(`ENVOY_CONFIG must be envoy.yaml or envoy_retry.yaml, not ${file}`);
  }
  const template = Deno.readTextFileSync(new URL(`./${file}`, import.meta.url));
  return renderEnvoyConfig(
    renderRetryTemplate(template, hostPortFromEnv(env, "EXT_PROC", "127.0.0.1", 9002)),
    {
      listen: {
        host: env("ENVOY_LISTEN_ADDRESS") || "127.0.0.1",
        port: Number(env("ENVOY_PORT") || 8090),
      },
      adminPort: Number(env("ENVOY_ADMIN_PORT") || 9901),
      router: hostPortFromEnv(env, "ROUTER", "127.0.0.1", 8080),
      small: hostPortFromEnv(env, "SMALL", "127.0.0.1", 18081),
      large: hostPortFromEnv(env, "LARGE", "127.0.0.1", 18082),
    },
  );
}

// `deploy/envoy/run.sh` renders through here: one renderer for the runner, the test harness and
// the Kubernetes config.
if (import.meta.main) {
  console.log(
    renderFromEnv((name) => Deno.env.get(name), Deno.env.get("ENVOY_CONFIG") || "envoy.yaml"),
  );
}
