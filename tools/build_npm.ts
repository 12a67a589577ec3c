/**
 * Builds the npm package from `mod.ts`: esbuild bundles our own code into one ES module,
 * `tsc --emitDeclarationOnly` writes the types. Dependencies stay external: in particular
 * `sql-parser-cst` (GPL-2.0-or-later) is never bundled, it is installed as an ordinary
 * dependency of the package.
 *
 * Usage: `deno task build:npm [outDir]` (default `dist/npm`).
 *
 * @module
 */

import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = Deno.args[0] ?? `${root}dist/npm`;
const rootPackage = JSON.parse(await Deno.readTextFile(`${root}package.json`));

await Deno.remove(outDir, { recursive: true }).catch(() => {});
await esbuild.build({
  entryPoints: [`${root}mod.ts`],
  outfile: `${outDir}/mod.js`,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: Object.keys(rootPackage.dependencies),
  sourcemap: true,
  logLevel: "warning",
});
await esbuild.stop();

const tsc = await new Deno.Command(`${root}node_modules/.bin/tsc`, {
  args: [
    "--declaration",
    "--emitDeclarationOnly",
    "--allowImportingTsExtensions",
    "--rewriteRelativeImportExtensions",
    "--skipLibCheck",
    "--strict",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--types",
    "node",
    "--outDir",
    `${outDir}/types`,
    `${root}mod.ts`,
  ],
  cwd: root,
}).output();
if (tsc.code !== 0) {
  console.error(new TextDecoder().decode(tsc.stdout), new TextDecoder().decode(tsc.stderr));
  Deno.exit(1);
}

const packageJson = {
  name: rootPackage.name,
  version: rootPackage.version,
  description: rootPackage.description,
  license: rootPackage.license,
  type: "module",
  main: "./mod.js",
  types: "./types/mod.d.ts",
  exports: { ".": { types: "./types/mod.d.ts", import: "./mod.js" } },
  engines: { node: ">=20.6" },
  dependencies: rootPackage.dependencies,
};
await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(packageJson, null, 2) + "\n");
await Deno.copyFile(`${root}README.md`, `${outDir}/README.md`).catch(() => {});
console.log(`npm package written to ${outDir}`);
