/**
 * `deploy/envoy/run.sh` renders through `deploy/envoy/render.ts` (the one renderer): the one
 * template, with and without its ext_proc retry sections, comes out complete and the real Envoy
 * accepts it.
 */
import assert from "node:assert/strict";
import { envoyBinary, envoyInstalled } from "../../tools/harness/envoy_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ignore = !(await envoyInstalled()) && !Deno.env.get("CI");

async function renderLikeRunSh(env: Record<string, string>): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(`${ROOT}node_modules/.bin/deno`, {
    // The same command and permissions as run.sh.
    args: ["run", "--no-prompt", `--allow-read=${ROOT}deploy/envoy`, "--allow-env", "render.ts"],
    cwd: `${ROOT}deploy/envoy`,
    env,
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}

for (const retry of ["0", "1"]) {
  Deno.test({
    name: `run.sh's rendering with ENVOY_RETRY=${retry} is complete and valid for Envoy`,
    ignore,
    fn: async () => {
      const yaml = await renderLikeRunSh({
        ENVOY_RETRY: retry,
        ENVOY_PORT: "8191",
        LARGE_PORT: "28082",
      });
      assert.doesNotMatch(yaml, /\{\{/);
      assert.match(yaml, /8191/);
      assert.match(yaml, /28082/);
      assert.equal(yaml.includes("envoy.filters.http.ext_proc"), retry === "1");
      const path = await Deno.makeTempFile({ suffix: ".yaml" });
      try {
        await Deno.writeTextFile(path, yaml);
        const { code, stderr } = await new Deno.Command(envoyBinary(), {
          args: ["--mode", "validate", "-c", path],
        }).output();
        assert.equal(code, 0, new TextDecoder().decode(stderr).slice(-2000));
      } finally {
        await Deno.remove(path);
      }
    },
  });
}

Deno.test("run.sh's renderer refuses the former ENVOY_CONFIG and an unclear ENVOY_RETRY", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ ENVOY_CONFIG: "envoy.yaml" }, /ENVOY_CONFIG is gone: one template; set ENVOY_RETRY=1/],
    [{ ENVOY_RETRY: "yes" }, /ENVOY_RETRY must be 1 \(ext_proc retry\) or 0, not "yes"/],
  ];
  for (const [env, message] of cases) {
    const { code, stderr } = await new Deno.Command(`${ROOT}node_modules/.bin/deno`, {
      args: ["run", "--no-prompt", `--allow-read=${ROOT}deploy/envoy`, "--allow-env", "render.ts"],
      cwd: `${ROOT}deploy/envoy`,
      env,
    }).output();
    assert.notEqual(code, 0);
    assert.match(new TextDecoder().decode(stderr), message);
  }
});
