// deploy/trino/cluster.sh writes Small's resource-group limits from its environment (the value
// experiment's serving limits) and keeps today's defaults otherwise; bad values are refused.
import assert from "node:assert/strict";
import { join } from "node:path";

const CLUSTER_SH = new URL("../../deploy/trino/cluster.sh", import.meta.url).pathname;

async function config(env: Record<string, string>) {
  const runDir = await Deno.makeTempDir();
  try {
    const out = await new Deno.Command("bash", {
      args: [CLUSTER_SH, "config", "small"],
      env: { TRINO_RUN_DIR: runDir, ...env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success) return { error: stderr };
    const text = await Deno.readTextFile(join(runDir, "small/etc/resource-groups.json"));
    const props = await Deno.readTextFile(join(runDir, "small/etc/config.properties"));
    return { group: JSON.parse(text).rootGroups[0], props };
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
}

Deno.test("Small's concurrency and queue default to the data-generation values", async () => {
  const { group, props } = await config({});
  assert.equal(group.hardConcurrencyLimit, 4);
  assert.equal(group.maxQueued, 50);
  assert.match(props!, /^query\.max-cpu-time=5s$/m);
});

Deno.test("the environment sets them, and the per-query caps stay", async () => {
  const { group, props } = await config({
    TRINO_SMALL_HARD_CONCURRENCY: "32",
    TRINO_SMALL_MAX_QUEUED: "1000",
  });
  assert.equal(group.hardConcurrencyLimit, 32);
  assert.equal(group.maxQueued, 1000);
  assert.match(props!, /^query\.max-cpu-time=5s$/m);
  assert.match(props!, /^query\.max-memory=256MB$/m);
});

Deno.test("a value that is not a count is refused, naming the variable", async () => {
  const { error } = await config({ TRINO_SMALL_HARD_CONCURRENCY: "32; rm -rf /" });
  assert.match(error!, /TRINO_SMALL_HARD_CONCURRENCY must be a positive integer/);
  const queued = await config({ TRINO_SMALL_MAX_QUEUED: "-1" });
  assert.match(queued.error!, /TRINO_SMALL_MAX_QUEUED must be a non-negative integer/);
});
