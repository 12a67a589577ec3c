/**
 * The npm build is the same classifier: built with esbuild + tsc, imported by plain Node, it
 * gives the decisions and scores Deno gives, and it does not bundle the GPL parser, which is an
 * optional dependency: installed without it, the package still decides, on token features.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { loadModelSet } from "../../src/model/model_set.ts";
import { createRouter } from "../../src/routing/router.ts";
import { FIXTURE_MODELS_DIR } from "../unit/_fixtures.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Inside the repository, so Node resolves the package's dependencies from our node_modules.
const outDir = `${root}dist/npm_package_test`;

const QUERIES = [
  { sqlText: "SELECT 1" },
  { sqlText: "SELECT '" + "x".repeat(3000) + "'", user: "etl" },
  { sqlText: "INSERT INTO t SELECT * FROM s" },
  {
    sqlText: "SELECT * FROM a JOIN b ON a.k = b.k JOIN c ON c.k = b.k",
    queryId: "20250811_120000_1_x",
  },
];

async function run(command: string, args: string[], cwd = root): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, cwd }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(
    code,
    0,
    `${command} ${args.join(" ")} failed:\n${text}\n${new TextDecoder().decode(stderr)}`,
  );
  return text;
}

Deno.test("the npm package built from mod.ts decides exactly like the Deno library", async () => {
  await run(Deno.execPath(), ["run", "--allow-all", "tools/build_npm.ts", outDir]);
  try {
    const bundle = await Deno.readTextFile(`${outDir}/mod.js`);
    assert.match(bundle, /import\("sql-parser-cst"\)/, "the GPL parser stays an external import()");
    assert.doesNotMatch(bundle, /from "sql-parser-cst"/, "and is never imported statically");
    const packageJson = JSON.parse(await Deno.readTextFile(`${outDir}/package.json`));
    // Exactly what the bundle imports: the ONNX runtime, and the parser as an optional
    // dependency; no service deps.
    assert.deepEqual(Object.keys(packageJson.dependencies), ["onnxruntime-web"]);
    assert.deepEqual(Object.keys(packageJson.optionalDependencies), ["sql-parser-cst"]);
    assert.equal(packageJson.license, "Apache-2.0");
    assert.match(packageJson.licenseNotes, /sql-parser-cst.*GPL-2\.0-or-later/);
    assert.match(packageJson.description, /GPL-2\.0-or-later/);
    assert.match(await Deno.readTextFile(`${outDir}/README.md`), /GPL-2\.0-or-later/);
    await Deno.stat(`${outDir}/types/mod.d.ts`);

    const script = `${outDir}/compare.mjs`;
    await Deno.writeTextFile(
      script,
      `import { createRouter, directoryModelSource, loadModelSet } from "./mod.js";
const models = await loadModelSet(directoryModelSource(${JSON.stringify(FIXTURE_MODELS_DIR)}));
const router = createRouter({ models, clusters: { small: "s", large: "l" } });
const out = [];
for (const q of ${JSON.stringify(QUERIES)}) out.push(await router.route(q));
console.log(JSON.stringify(out));
await models.close();`,
    );
    const fromNode = JSON.parse(await run("node", [script]));

    const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
    const router = createRouter({ models, clusters: { small: "s", large: "l" } });
    const fromDeno = [];
    for (const q of QUERIES) {
      fromDeno.push(JSON.parse(JSON.stringify(await router.route(q))));
    }
    await models.close();
    assert.deepEqual(fromNode, fromDeno);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

/** The first ```js block of the package README: its library example. */
function readmeExample(readme: string): string {
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "the package README has a ```js library example");
  return example;
}

Deno.test("the package installs in a scratch Node project and its README example runs unchanged", async () => {
  const packDir = await Deno.makeTempDir({ prefix: "npm_pack_" });
  const scratch = await Deno.makeTempDir({ prefix: "npm_scratch_" });
  try {
    await run(Deno.execPath(), ["run", "--allow-all", "tools/build_npm.ts", `${packDir}/pkg`]);
    const tarball =
      (await run("npm", ["pack", "--silent", "--pack-destination", packDir], `${packDir}/pkg`))
        .trim().split("\n").at(-1)!;
    await Deno.writeTextFile(
      `${scratch}/package.json`,
      JSON.stringify({ name: "scratch", private: true, type: "module" }),
    );
    // Dependencies come from npm's cache when present (they are the repository's own).
    await run("npm", [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      `${packDir}/${tarball}`,
    ], scratch);
    await run("cp", ["-r", `${root}models`, `${scratch}/models`]);
    const readme = await Deno.readTextFile(`${scratch}/node_modules/trino-smart-router/README.md`);
    await Deno.writeTextFile(`${scratch}/example.mjs`, readmeExample(readme));
    const printed = (await run("node", ["example.mjs"], scratch)).trim();

    const models = await loadModelSet(directoryModelSource(`${root}models`));
    const router = createRouter({
      models,
      clusters: { small: "trino-small:8080", large: "trino-large:8080" },
    });
    const decision = await router.route({ sqlText: "SELECT 1", user: "alice" });
    assert.equal(printed, `${decision.decision} ${decision.targetCluster} ${decision.reason}`);

    // Without the optional GPL parser: still a decision for every query, on token features,
    // and the reason says why; one warning, not one per query.
    await run("npm", [
      "install",
      "--omit=optional",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
    ], scratch);
    await assert.rejects(Deno.stat(`${scratch}/node_modules/sql-parser-cst`), Deno.errors.NotFound);
    await Deno.writeTextFile(
      `${scratch}/without_parser.mjs`,
      `import { createRouter, directoryModelSource, loadModelSet } from "trino-smart-router";
const models = await loadModelSet(directoryModelSource(${JSON.stringify(FIXTURE_MODELS_DIR)}));
const router = createRouter({ models, clusters: { small: "s", large: "l" } });
const out = [];
for (const q of ${JSON.stringify(QUERIES)}) out.push(await router.route(q));
console.log(JSON.stringify(out.map((d) => [d.reason, d.parseOutcome])));
await models.close();`,
    );
    const without = await new Deno.Command("node", { args: ["without_parser.mjs"], cwd: scratch })
      .output();
    const stderr = new TextDecoder().decode(without.stderr);
    assert.equal(without.code, 0, stderr);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(without.stdout)), [
      ["parse-fallback", "parser-absent"],
      ["parse-fallback", "parser-absent"],
      ["write-statement", "parser-absent"],
      ["parse-fallback", "parser-absent"],
    ]);
    assert.equal(stderr.match(/sql-parser-cst could not be loaded/g)?.length, 1, stderr);
    // The README example runs unchanged without it too.
    assert.match((await run("node", ["example.mjs"], scratch)).trim(), /^(light|heavy) \S+ /);
    await models.close();
  } finally {
    await Deno.remove(packDir, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});
