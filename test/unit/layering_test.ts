/**
 * The classifier core stays pure: featurize (`src/sql`, `src/features`) and infer (`src/model`)
 * know nothing of the decision policy, and none of the core (decide, `src/routing`, included)
 * knows the adapters around it (HTTP, ext_proc, the store, the feedback loop).
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** What each core folder must not import (folders or files under `src/`). */
const FORBIDDEN: Record<string, readonly string[]> = {
  sql: ["features", "model", "routing"],
  features: ["model", "routing"],
  model: ["routing"],
  routing: [],
};
const ADAPTERS = ["server", "ext_proc", "store", "feedback", "service.ts", "main.ts"];

/** The `src/`-relative targets of a module's static and dynamic relative imports. */
function importsOf(file: string, text: string): string[] {
  const specifiers = [...text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*"(\.[^"]+)"/g)];
  return specifiers.map((m) => relative(SRC, resolve(dirname(file), m[1])));
}

function tsFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

Deno.test("the classifier core imports neither the decision policy below it nor any adapter", () => {
  const violations: string[] = [];
  let checked = 0;
  for (const [folder, below] of Object.entries(FORBIDDEN)) {
    for (const file of tsFiles(join(SRC, folder))) {
      checked++;
      for (const target of importsOf(file, Deno.readTextFileSync(file))) {
        const top = target.split("/")[0];
        if ([...below, ...ADAPTERS].includes(top)) {
          violations.push(`${relative(SRC, file)} imports ${target}`);
        }
      }
    }
  }
  assert.ok(checked > 10, `only ${checked} core modules found`);
  assert.deepEqual(violations, []);
});

Deno.test("the import scan sees a forbidden import", () => {
  const file = join(SRC, "features", "featurizer.ts");
  assert.deepEqual(importsOf(file, `import { x } from "../routing/router.ts";`), [
    "routing/router.ts",
  ]);
  assert.deepEqual(importsOf(file, `const m = await import("../server/app.ts");`), [
    "server/app.ts",
  ]);
});
