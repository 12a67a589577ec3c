// deploy/k8s/: every overlay renders (kubectl kustomize), every object decodes strictly with the
// official Kubernetes API types, and the promises hold; each check is shown to fail on a manifest
// that breaks it. The Kubernetes Envoy config is the template's rendering and real Envoy accepts it.
import assert from "node:assert/strict";
import { commandRuns } from "../../tools/harness/local_process.ts";
import {
  overlays,
  renderOverlay,
  validateManifests,
  validatorBinary,
} from "../../deploy/k8s/validate.ts";
import { K8S_ENVOY_CONFIG, k8sEnvoyConfig } from "../../deploy/k8s/envoy_config.ts";
import { envoyBinary, envoyInstalled } from "../../tools/harness/envoy_process.ts";
import { createTestPki } from "./_test_pki.ts";
import { ENV_NAMES } from "../../src/config.ts";

const tools = await commandRuns("kubectl", ["version", "--client"]) &&
  await commandRuns("go", ["version"]);
const ignore = !tools && !Deno.env.get("CI");
if (ignore) console.warn("kubectl or go missing: skipping (run .ci/install_kubectl.sh)");

type Obj = {
  kind: string;
  metadata: { name: string };
  // deno-lint-ignore no-explicit-any
  spec: Record<string, any>;
};

Deno.test("k8s: every overlay renders and passes strict decoding and the policy checks", {
  ignore,
}, async () => {
  await validatorBinary(); // built (or found in the cache) before the clock matters
  const names = await overlays();
  assert.deepEqual(names, ["production", "staging"]);
  for (const name of names) {
    const result = await validateManifests(await renderOverlay(name));
    assert.deepEqual(result.problems, [], name);
    assert.ok(result.ok, name);
    assert.deepEqual(result.output.kinds, {
      ConfigMap: 2,
      Deployment: 3,
      HorizontalPodAutoscaler: 2,
      NetworkPolicy: 3,
      PodDisruptionBudget: 2,
      Service: 4,
      StatefulSet: 1,
    }, name);
  }
});

Deno.test("k8s: each promise fails the validator when a manifest breaks it", {
  ignore,
}, async () => {
  const decoded = await validateManifests(await renderOverlay("production"), { objects: true });
  assert.ok(decoded.ok);
  const items = (decoded.output as { items: Obj[] }).items;
  const find = (kind: string, name: string) =>
    items.find((o) => o.kind === kind && o.metadata.name === name)!;
  const broken = async (mutate: (copy: Obj[]) => void, expected: RegExp) => {
    const copy: Obj[] = structuredClone(items);
    mutate(copy);
    const result = await validateManifests(copy.map((o) => JSON.stringify(o)).join("\n---\n"));
    assert.equal(result.ok, false, `expected ${expected}`);
    assert.ok(result.problems.some((p) => expected.test(p)), result.problems.join("\n"));
  };
  const inCopy = (copy: Obj[], kind: string, name: string) =>
    copy.find((o) => o.kind === kind && o.metadata.name === name)!;
  // Unchanged objects pass: the failures below come from the mutations alone.
  const unchanged = await validateManifests(items.map((o) => JSON.stringify(o)).join("\n---\n"));
  assert.deepEqual(unchanged.problems, []);

  await broken((c) => {
    inCopy(c, "Deployment", "trino-router-blue").spec.replicass = 3;
  }, /Deployment .*unknown field "replicass"/);
  await broken((c) => {
    inCopy(c, "NetworkPolicy", "trino-router").spec.ingress[0].from = [{}];
  }, /NetworkPolicy\/trino-router ingress\[0\]: empty peer admits everyone/);
  await broken((c) => {
    delete inCopy(c, "NetworkPolicy", "trino-router").spec.ingress[1].from;
  }, /ingress\[1\]: no peers/);
  await broken((c) => {
    inCopy(c, "NetworkPolicy", "trino-router").spec.ingress[0].from = [{ podSelector: {} }];
  }, /peer selects every pod/);
  await broken((c) => {
    inCopy(c, "NetworkPolicy", "trino-router").spec.ingress[0].from = [{
      ipBlock: { cidr: "0.0.0.0/0" },
    }];
  }, /admits everyone/);
  await broken((c) => {
    inCopy(c, "Deployment", "trino-router-green").spec.template.spec.containers[0]
      .securityContext.runAsUser = 0;
  }, /trino-router-green container trino-router: runs as root/);
  await broken((c) => {
    inCopy(c, "StatefulSet", "trino-redis").spec.template.spec.securityContext.runAsNonRoot = false;
  }, /StatefulSet\/trino-redis: pod securityContext.runAsNonRoot must be true/);
  await broken((c) => {
    inCopy(c, "Deployment", "trino-envoy").spec.template.spec.containers[0]
      .securityContext.readOnlyRootFilesystem = false;
  }, /readOnlyRootFilesystem must be true/);
  await broken((c) => {
    inCopy(c, "HorizontalPodAutoscaler", "trino-router-blue").spec.maxReplicas = 11;
  }, /trino-router-blue: replicas must be 3..10/);
  await broken((c) => {
    inCopy(c, "HorizontalPodAutoscaler", "trino-router-blue").spec.metrics[0].resource.target
      .averageUtilization = 80;
  }, /CPU utilization 70/);
  await broken((c) => {
    inCopy(c, "Deployment", "trino-router-blue").spec.template.spec.containers[0].env[0].value =
      "127.0.0.1";
  }, /env HOST must be 0.0.0.0/);
  await broken((c) => {
    delete inCopy(c, "Deployment", "trino-router-blue").spec.template.spec.containers[0]
      .readinessProbe;
  }, /readinessProbe must GET \/readyz/);
  await broken((c) => {
    c.splice(c.indexOf(inCopy(c, "PodDisruptionBudget", "trino-router-green")), 1);
  }, /trino-router-green: no PodDisruptionBudget/);
  assert.ok(find("Service", "trino-router"));
});

Deno.test("k8s: the Envoy config is the template's rendering, and real Envoy accepts it", {
  ignore,
}, async () => {
  const committed = await Deno.readTextFile(K8S_ENVOY_CONFIG);
  assert.equal(
    committed,
    await k8sEnvoyConfig(),
    "stale: run deno run --allow-read --allow-write deploy/k8s/envoy_config.ts",
  );
  assert.ok(!/\{\{[A-Z_]+\}\}/.test(committed));
  if (!(await envoyInstalled())) return;
  // The certificate paths of the pod, pointed at files that exist here.
  const pki = await createTestPki();
  try {
    const local = committed
      .replaceAll("/etc/envoy/ca/ca.crt", pki.caFile)
      .replaceAll("/etc/envoy/tls/tls.crt", pki.certFile)
      .replaceAll("/etc/envoy/tls/tls.key", pki.keyFile);
    const path = `${pki.dir}/envoy.yaml`;
    await Deno.writeTextFile(path, local);
    const { success, stderr, stdout } = await new Deno.Command(envoyBinary(), {
      args: ["--mode", "validate", "-c", path, "--disable-hot-restart"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.ok(success, log);
  } finally {
    await pki.remove();
  }
});

Deno.test("k8s: every variable the router's ConfigMap sets (or suggests) is one it reads", async () => {
  const env = await Deno.readTextFile(new URL("../../deploy/k8s/base/router.env", import.meta.url));
  const names = [...env.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
  assert.ok(names.length >= 10);
  const read: readonly string[] = ENV_NAMES;
  assert.deepEqual(names.filter((name) => !read.includes(name)), []);
});
