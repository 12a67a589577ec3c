// Process CPU from /proc/<pid>/stat: the parser on hand-made lines, and the reader on this very
// process while it burns CPU.
import assert from "node:assert/strict";
import { processCpuSeconds, statCpuTicks } from "../../tools/capacity/process_cpu.ts";

Deno.test("utime + stime are counted from the last parenthesis (command names may hold some)", () => {
  assert.equal(statCpuTicks("7 (java) S 1 7 7 0 -1 0 0 0 0 0 120 30 0 0"), 150);
  assert.equal(statCpuTicks("7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0"), 11);
});

Deno.test("a line that is not a stat line is refused, naming it", () => {
  assert.throws(() => statCpuTicks("garbage"), /not a \/proc\/<pid>\/stat line: "garbage"/);
  assert.throws(() => statCpuTicks("7 (java) S 1"), /not a \/proc\/<pid>\/stat line/);
});

Deno.test("this process's CPU grows while it computes, and a missing pid throws", () => {
  const before = processCpuSeconds(Deno.pid);
  // Burn until the kernel's tick counter moves (it counts in 10 ms steps); bounded by wall time.
  const until = Date.now() + 5_000;
  let x = 0;
  // At least one round: under --parallel the process may already be past the step when checked.
  do {
    for (let i = 0; i < 1e6; i++) x += Math.sqrt(i);
  } while (processCpuSeconds(Deno.pid) <= before + 0.02 && Date.now() < until);
  assert.ok(x > 0);
  assert.ok(processCpuSeconds(Deno.pid) > before, "no CPU counted for a busy loop");
  assert.throws(() => processCpuSeconds(2 ** 31 - 1), Deno.errors.NotFound);
});
