/**
 * The training evaluation's confusion counts (`training/evaluate.py`, vectorised NumPy) against
 * the live rule (`confusionCell` in `src/feedback/confusion.ts`): same rows, same cells, same
 * names. The Python side runs in the training venv.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { confusionCell, type ConfusionCounts } from "../../src/feedback/confusion.ts";
import type { QueryClass } from "../../src/routing/router.ts";

const TRAINING = new URL("../../training/", import.meta.url).pathname;
const PYTHON = join(TRAINING, ".venv", "bin", "python");

/** Python's `confusion(y, heavy_pred)` for each batch of (predicted, actual) rows. */
async function pythonConfusion(
  batches: readonly (readonly [QueryClass, QueryClass])[][],
): Promise<Record<string, number>[]> {
  const script = [
    "import json, sys",
    "import numpy as np",
    "from evaluate import confusion",
    "out = []",
    "for rows in json.load(sys.stdin):",
    "    predicted = np.array([p == 'heavy' for p, _ in rows], dtype=bool)",
    "    actual = np.array([a == 'heavy' for _, a in rows], dtype=bool)",
    "    out.append(confusion(actual, predicted))",
    "print(json.dumps(out))",
  ].join("\n");
  const child = new Deno.Command(PYTHON, {
    args: ["-c", script],
    cwd: TRAINING,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(batches)));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

function tsConfusion(rows: readonly (readonly [QueryClass, QueryClass])[]): ConfusionCounts {
  const cells = { truePositive: 0, falseNegative: 0, trueNegative: 0, falsePositive: 0 };
  for (const [predicted, actual] of rows) cells[confusionCell(predicted, actual)]++;
  return cells;
}

Deno.test("evaluate.py puts every (predicted, actual) row in the cell confusionCell names", async () => {
  const classes: QueryClass[] = ["light", "heavy"];
  const single = classes.flatMap((p) => classes.map((a) => [[p, a] as const]));
  // A mixed batch with a different count per cell, so swapped names cannot cancel out.
  const mixed: (readonly [QueryClass, QueryClass])[] = [
    ...Array.from({ length: 1 }, () => ["heavy", "heavy"] as const),
    ...Array.from({ length: 2 }, () => ["light", "heavy"] as const),
    ...Array.from({ length: 3 }, () => ["light", "light"] as const),
    ...Array.from({ length: 4 }, () => ["heavy", "light"] as const),
  ];
  const batches = [...single, mixed];
  const python = await pythonConfusion(batches);
  assert.equal(python.length, batches.length);
  for (const [i, rows] of batches.entries()) {
    assert.deepEqual(python[i], tsConfusion(rows), `rows ${JSON.stringify(rows)}`);
  }
});
