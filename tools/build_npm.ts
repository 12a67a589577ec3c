/**
 * Builds the npm package from `mod.ts`: esbuild bundles our own code into one ES module,
 * `tsc --emitDeclarationOnly` writes the types. Dependencies stay external: in particular
 * `sql-parser-cst` (GPL-2.0-or-later) is never bundled; it is an optional dependency of the
 * package, imported dynamically, and without it queries are decided on token features only
 * (`src/features/cst_features.ts`).
 *
 * Usage: `deno task build:npm [outDir]` (default `dist/npm`).
 *
 * @module
 */

import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
/** Said wherever an npm user looks first: our code is Apache-2.0, one dependency is GPL. */
const GPL_NOTE = "Our code is Apache-2.0; its optional dependency sql-parser-cst is licensed " +
  "GPL-2.0-or-later, installed as a separate package (never bundled); without it " +
  "(npm install --omit=optional) queries are decided on token features only.";
/**
 * Dependencies the library runs without (loaded with a dynamic `import()` whose failure it
 * handles): listed as `optionalDependencies`. A static import of one fails the build.
 */
const OPTIONAL = new Set(["sql-parser-cst"]);
const outDir = Deno.args[0] ?? `${root}dist/npm`;
const rootPackage = JSON.parse(await Deno.readTextFile(`${root}package.json`));

await Deno.remove(outDir, { recursive: true }).catch(() => {});
const built = await esbuild.build({
  entryPoints: [`${root}mod.ts`],
  outfile: `${outDir}/mod.js`,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: Object.keys(rootPackage.dependencies),
  sourcemap: true,
  metafile: true,
  logLevel: "warning",
});
await esbuild.stop();

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

// The package depends on exactly what the bundle imports (the service's gRPC, Redis, Hono and
// Prometheus clients never reach the library).
const imported = new Set<string>();
for (const output of Object.values(built.metafile!.outputs)) {
  for (const { path, external, kind } of output.imports) {
    if (!external || path.startsWith("node:")) continue;
    const name = packageOf(path);
    if (OPTIONAL.has(name) && kind !== "dynamic-import") {
      throw new Error(`${name} is optional: the bundle may only import() it, not ${kind} it`);
    }
    imported.add(name);
  }
}
const dependencies: Record<string, string> = {};
const optionalDependencies: Record<string, string> = {};
for (const name of [...imported].sort()) {
  const version = rootPackage.dependencies[name];
  if (version === undefined) throw new Error(`the bundle imports ${name}, not a dependency`);
  (OPTIONAL.has(name) ? optionalDependencies : dependencies)[name] = version;
}

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
  description: `${rootPackage.description} ${GPL_NOTE}`,
  license: rootPackage.license,
  licenseNotes: GPL_NOTE,
  type: "module",
  main: "./mod.js",
  types: "./types/mod.d.ts",
  exports: { ".": { types: "./types/mod.d.ts", import: "./mod.js" } },
  engines: { node: ">=20.6" },
  dependencies,
  optionalDependencies,
};
await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(packageJson, null, 2) + "\n");
await Deno.copyFile(`${root}tools/npm_readme.md`, `${outDir}/README.md`);
console.log(`npm package written to ${outDir}`);
