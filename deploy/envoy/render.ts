/**
 * Renders Envoy's one configuration template (`envoy.yaml`): ext_authz routing, plus the ext_proc
 * transparent retry when given the ext_proc server. The one renderer the local runner, the test
 * harness, the capacity experiment and the Kubernetes manifests use.
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
  /**
   * The router's ext_proc gRPC server: keeps the template's `EXT_PROC` sections (the transparent
   * retry on Large). Without it they are dropped and Envoy only routes.
   */
  readonly extProc?: HostPort;
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

// Section markers are YAML comments on their own lines, so the template stays readable YAML.
const OPEN = /^\s*# \{\{#EXT_PROC\}\}\s*$/;
const CLOSE = /^\s*# \{\{\/EXT_PROC\}\}\s*$/;

/** The template's lines with its `EXT_PROC` sections kept (markers removed) or dropped. */
function applySections(template: string, keep: boolean): string {
  const out: string[] = [];
  let inside = false;
  for (const [i, line] of template.split("\n").entries()) {
    if (OPEN.test(line) || CLOSE.test(line)) {
      if (OPEN.test(line) === inside) {
        throw new Error(`envoy template line ${i + 1}: unbalanced ${line.trim()}`);
      }
      inside = !inside;
      continue;
    }
    if (!inside || keep) out.push(line);
  }
  if (inside) throw new Error("envoy template: an EXT_PROC section is never closed");
  return out.join("\n");
}

/**
 * Fills the template's `{{PLACEHOLDERS}}` and keeps its lines between `# {{#EXT_PROC}}` and
 * `# {{/EXT_PROC}}` only when `values.extProc` is given; throws if a placeholder is left (an
 * ext_proc one outside a section included) or a section is unbalanced, so a template change
 * cannot silently start Envoy with a literal `{{...}}`.
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
 *
 * @example The retry sections
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderEnvoyConfig } from "./render.ts";
 * const template = "a\n# {{#EXT_PROC}}\nport: {{EXT_PROC_PORT}}\n# {{/EXT_PROC}}\nb";
 * const values = {
 *   listen: { host: "127.0.0.1", port: 8080 }, adminPort: 9901,
 *   router: { host: "127.0.0.1", port: 1 }, small: { host: "127.0.0.1", port: 2 },
 *   large: { host: "127.0.0.1", port: 3 },
 * };
 * assert.equal(renderEnvoyConfig(template, values), "a\nb");
 * const extProc = { host: "127.0.0.1", port: 9002 };
 * assert.equal(renderEnvoyConfig(template, { ...values, extProc }), "a\nport: 9002\nb");
 * ```
 */
export function renderEnvoyConfig(template: string, values: EnvoyConfigValues): string {
  const ext = values.extProc;
  const map: Record<string, string | number | undefined> = {
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
    LISTENER_TLS: listenerTlsYaml(values.listenerTls),
    // Only inside the kept sections: anywhere else they stay and fail below.
    EXT_PROC_HOST: ext?.host,
    EXT_PROC_PORT: ext?.port,
    // The ext_proc server is the router process too: same certificate.
    EXT_PROC_TLS: ext && routerTlsYaml(values.routerTls, ["h2"]),
  };
  const rendered = applySections(template, ext !== undefined).replace(
    /\{\{([A-Z_]+)\}\}/g,
    (whole, name: string) => {
      const value = map[name];
      return value === undefined ? whole : String(value);
    },
  );
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
 * environment or the defaults of `deno task serve` and `deploy/trino/cluster.sh`; the ext_proc
 * retry with `ENVOY_RETRY=1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderFromEnv } from "./render.ts";
 * const env = { ENVOY_PORT: "8191", SMALL_PORT: "28081", ENVOY_RETRY: "1" } as Record<string, string>;
 * const yaml = renderFromEnv((name) => env[name]);
 * assert.ok(yaml.includes("8191") && yaml.includes("28081") && !yaml.includes("{{"));
 * assert.ok(yaml.includes("envoy.filters.http.ext_proc"));
 * ```
 */
export function renderFromEnv(env: (name: string) => string | undefined): string {
  if (env("ENVOY_CONFIG") !== undefined) {
    // Named so that a command written for the former two-file layout fails instead of
    // silently starting without the retry.
    throw new Error("ENVOY_CONFIG is gone: one template; set ENVOY_RETRY=1 for the ext_proc retry");
  }
  const retry = env("ENVOY_RETRY") ?? "";
  if (!["", "0", "1"].includes(retry)) {
    throw new Error(`ENVOY_RETRY must be 1 (ext_proc retry) or 0, not ${JSON.stringify(retry)}`);
  }
  return renderEnvoyConfig(Deno.readTextFileSync(ENVOY_TEMPLATE_PATH), {
    listen: {
      host: env("ENVOY_LISTEN_ADDRESS") || "127.0.0.1",
      port: Number(env("ENVOY_PORT") || 8090),
    },
    adminPort: Number(env("ENVOY_ADMIN_PORT") || 9901),
    router: hostPortFromEnv(env, "ROUTER", "127.0.0.1", 8080),
    small: hostPortFromEnv(env, "SMALL", "127.0.0.1", 18081),
    large: hostPortFromEnv(env, "LARGE", "127.0.0.1", 18082),
    extProc: retry === "1" ? hostPortFromEnv(env, "EXT_PROC", "127.0.0.1", 9002) : undefined,
  });
}

// `deploy/envoy/run.sh` renders through here: one renderer for the runner, the test harness and
// the Kubernetes config.
if (import.meta.main) console.log(renderFromEnv((name) => Deno.env.get(name)));
