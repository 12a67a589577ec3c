// deploy/envoy/envoy.yaml is one template: with its EXT_PROC sections rendered it is the plain
// config plus the ext_proc filter. These checks catch the two renderings drifting apart (a route
// or filter that only one of them has) and the section markers going wrong.
import assert from "node:assert/strict";
import {
  ENVOY_TEMPLATE_PATH,
  type EnvoyConfigValues,
  renderEnvoyConfig,
} from "../../deploy/envoy/render.ts";

const template = await Deno.readTextFile(ENVOY_TEMPLATE_PATH);
const loopback = (port: number) => ({ host: "127.0.0.1", port });
const values: EnvoyConfigValues = {
  listen: loopback(8090),
  adminPort: 9901,
  router: loopback(8080),
  small: loopback(18081),
  large: loopback(18082),
};
const base = renderEnvoyConfig(template, values);
const retry = renderEnvoyConfig(template, { ...values, extProc: loopback(9002) });

const names = (yaml: string, indent: number) =>
  [...yaml.matchAll(new RegExp(`^ {${indent}}- name: (\\S+)`, "gm"))].map((m) => m[1]);
const routes = (yaml: string) => names(yaml, 24);

/** The per-route filter configs of one route, as text (up to the next route). */
function routeBlock(yaml: string, route: string): string {
  const start = yaml.indexOf(`\n                        - name: ${route}\n`);
  assert.ok(start >= 0, `route ${route} found`);
  const next = yaml.indexOf("\n                        - name: ", start + 1);
  return yaml.slice(start, next < 0 ? undefined : next);
}

Deno.test("both renderings have the same routes, in order; the GET follow-up first", () => {
  assert.ok(routes(base).length >= 5, "routes found");
  assert.deepEqual(routes(retry), routes(base));
  // More specific than followup-small, so it must come first.
  assert.ok(
    routes(base).indexOf("followup-small-statement") < routes(base).indexOf("followup-small"),
  );
});

Deno.test("ext_proc runs only on the Small protocol routes, and only in the retry rendering", () => {
  const code = (yaml: string) => yaml.replace(/^\s*#.*$/gm, "");
  assert.doesNotMatch(code(base), /ext_proc/);
  const enabled = routes(retry).filter((route) =>
    /envoy\.filters\.http\.ext_proc:\s*\n\s*"@type": \S+ExtProcPerRoute\s*\n\s*overrides:/
      .test(routeBlock(retry, route))
  );
  assert.deepEqual(enabled, ["statement-small", "followup-small-statement"]);
});

Deno.test("the retry rendering's filters: ext_authz, then ext_proc, then the router", () => {
  const filters = (yaml: string) =>
    names(yaml, 18).filter((name) => name.startsWith("envoy.filters.http."));
  assert.deepEqual(filters(base), ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]);
  assert.deepEqual(filters(retry), [
    "envoy.filters.http.ext_authz",
    "envoy.filters.http.ext_proc",
    "envoy.filters.http.router",
  ]);
});

Deno.test("the retry rendering's clusters: the plain ones plus ext_proc, at its address", () => {
  const clusters = (yaml: string) => names(yaml.slice(yaml.indexOf("\n  clusters:")), 4);
  assert.ok(clusters(base).length >= 3, "clusters found");
  assert.deepEqual(clusters(retry), ["ext_proc", ...clusters(base)]);
  assert.match(retry, /socket_address: \{ address: 127\.0\.0\.1, port_value: 9002 \}/);
  assert.doesNotMatch(base + retry, /\{\{/, "no marker or placeholder left");
});

Deno.test("a broken section or an ext_proc placeholder outside one is refused", () => {
  const withExt = { ...values, extProc: loopback(9002) };
  for (
    const bad of ["# {{#EXT_PROC}}\na", "a\n# {{/EXT_PROC}}", "# {{#EXT_PROC}}\n# {{#EXT_PROC}}"]
  ) {
    assert.throws(() => renderEnvoyConfig(bad, withExt), /unbalanced|never closed/);
  }
  assert.throws(
    () => renderEnvoyConfig("port: {{EXT_PROC_PORT}}", values),
    /placeholder \{\{EXT_PROC_PORT\}\} has no value/,
  );
});
