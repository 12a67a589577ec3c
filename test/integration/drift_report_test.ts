/**
 * `deno task drift` on the fixture workload: a fresh sample of the same workload reports no
 * drift (exit 0); a workload with other users and longer queries reports drift (exit 1). Real
 * Evidently, in the MLOps venv.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { makeFixtureLog } from "../../training/make_fixture_log.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;
const DRIFT = new URL("../../training/drift.ts", import.meta.url).pathname;

/** A later sample of the fixture's workload (another seed, another week). */
function window(seed: number): QueryCompletedEvent[] {
  return makeFixtureLog({ seed, start: "2026-11-15T00:00:00Z", days: 3, queries: 400 });
}

/** The same generator, but new users from a new tool, and every read 30 columns longer. */
function shifted(events: QueryCompletedEvent[]): QueryCompletedEvent[] {
  const pad = Array.from({ length: 30 }, (_, k) => `${k} AS c${k}`).join(", ");
  return events.map((e, i) => ({
    ...e,
    context: { ...e.context, user: `new_user_${i % 4}`, source: "new-notebook" },
    metadata: {
      ...e.metadata,
      query: /^\s*select/i.test(e.metadata.query ?? "")
        ? `WITH pad AS (SELECT ${pad}) ${e.metadata.query}`
        : e.metadata.query,
    },
  }));
}

async function drift(windowLog: string, out: string) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", DRIFT, "--window", windowLog, "--reference", FIXTURE_LOG, "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(result.stdout);
  const summary = JSON.parse(await readFile(join(out, "drift_summary.json"), "utf8"));
  return { code: result.code, stdout, stderr: new TextDecoder().decode(result.stderr), summary };
}

Deno.test("drift report: an unchanged window passes, a shifted workload is drift", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "drift-report-"));
  try {
    const write = async (name: string, events: QueryCompletedEvent[]) => {
      const path = join(dir, name);
      await writeFile(path, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
      return path;
    };

    await t.step("a fresh sample of the same workload: no drift, exit 0", async () => {
      const { code, stdout, stderr, summary } = await drift(
        await write("same.jsonl", window(11)),
        join(dir, "same"),
      );
      console.log(stdout);
      assert.equal(code, 0, stderr);
      assert.equal(summary.verdict, "no-drift");
      assert.equal(summary.data.datasetDrift, false);
      assert.equal(summary.labels.labelDrift, false);
      assert.ok(summary.window.rows >= 350, `${summary.window.rows} window rows`);
      assert.ok(summary.data.driftedShare < 0.3, JSON.stringify(summary.data.driftedColumns));
      const html = await readFile(summary.files.html, "utf8");
      assert.match(html, /<html/i);
    });

    await t.step("other users and longer queries: drift, exit 1", async () => {
      const { code, stdout, summary } = await drift(
        await write("shifted.jsonl", shifted(window(12))),
        join(dir, "shifted"),
      );
      console.log(stdout);
      assert.equal(code, 1);
      assert.equal(summary.verdict, "drift");
      assert.equal(summary.data.datasetDrift, true);
      for (const column of ["user", "source", "sql_length", "token_count"]) {
        assert.ok(summary.data.columns[column].drifted, `${column} drifted`);
      }
      assert.equal(typeof summary.labels.window.heavyRate, "number");
      assert.equal(typeof summary.labels.training.heavyRate, "number");
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
