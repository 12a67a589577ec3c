/**
 * `deploy/envoy/run.sh` renders through `deploy/envoy/render.ts` (the one renderer): both
 * templates come out complete and the real Envoy accepts them.
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

for (const file of ["envoy.yaml", "envoy_retry.yaml"]) {
  Deno.test({
    name: `run.sh's rendering of ${file} is complete and valid for Envoy`,
    ignore,
    fn: async () => {
      const yaml = await renderLikeRunSh({
        ENVOY_CONFIG: file,
        ENVOY_PORT: "8191",
        LARGE_PORT: "28082",
      });
      assert.doesNotMatch(yaml, /\{\{/);
      assert.match(yaml, /8191/);
      assert.match(yaml, /28082/);
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

Deno.test("run.sh's renderer refuses a config name that is not a template", async () => {
  const { code, stderr } = await new Deno.Command(`${ROOT}node_modules/.bin/deno`, {
    args: ["run", "--no-prompt", `--allow-read=${ROOT}deploy/envoy`, "--allow-env", "render.ts"],
    cwd: `${ROOT}deploy/envoy`,
    env: { ENVOY_CONFIG: "../../README.md" },
  }).output();
  assert.notEqual(code, 0);
  assert.match(
    new TextDecoder().decode(stderr),
    /ENVOY_CONFIG must be envoy\.yaml or envoy_retry\.yaml/,
  );
});
