/**
 * The npm build is the same classifier: built with esbuild + tsc, imported by plain Node, it
 * gives the decisions and scores Deno gives, and it does not bundle the GPL parser.
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

async function run(command: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, cwd: root }).output();
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
    assert.match(bundle, /from "sql-parser-cst"/, "the GPL parser stays an external import");
    const packageJson = JSON.parse(await Deno.readTextFile(`${outDir}/package.json`));
    assert.ok(packageJson.dependencies["sql-parser-cst"]);
    await Deno.stat(`${outDir}/types/mod.d.ts`);

    const script = `${outDir}/compare.mjs`;
    await Deno.writeTextFile(
      script,
      `import { createRouter, directoryModelSource, loadModelSet } from "./mod.js";
const models = await loadModelSet(directoryModelSource(${JSON.stringify(FIXTURE_MODELS_DIR)}));
const router = createRouter({ models, clusters: { small: "s", large: "l" } });
const out = [];
for (const q of ${JSON.stringify(QUERIES)}) out.push((await router.route(q)).decision);
console.log(JSON.stringify(out));
await models.close();`,
    );
    const fromNode = JSON.parse(await run("node", [script]));

    const models = await loadModelSet(directoryModelSource(FIXTURE_MODELS_DIR));
    const router = createRouter({ models, clusters: { small: "s", large: "l" } });
    const fromDeno = [];
    for (const q of QUERIES) {
      fromDeno.push(JSON.parse(JSON.stringify((await router.route(q)).decision)));
    }
    await models.close();
    assert.deepEqual(fromNode, fromDeno);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
