import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { loadQueryLog } from "../../training/query_log.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;

Deno.test("a multi-member gzip log (rotated files concatenated) reads like the plain log", async () => {
  const text = await Deno.readTextFile(FIXTURE_LOG);
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  const half = Math.floor(lines.length / 2);
  const members = [lines.slice(0, half), lines.slice(half)].map((part) =>
    gzipSync(new TextEncoder().encode(part.join("\n") + "\n"))
  );
  const path = await Deno.makeTempFile({ suffix: ".jsonl.gz" });
  try {
    await Deno.writeFile(path, new Uint8Array([...members[0], ...members[1]]));
    const plain = await loadQueryLog(FIXTURE_LOG);
    const gzipped = await loadQueryLog(path);
    assert.equal(gzipped.lines, plain.lines);
    assert.deepEqual(
      gzipped.rows.map((r) => r.event.metadata.queryId),
      plain.rows.map((r) => r.event.metadata.queryId),
    );
  } finally {
    await Deno.remove(path);
  }
});
