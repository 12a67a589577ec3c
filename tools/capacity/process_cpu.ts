/**
 * A process's CPU time from `/proc/<pid>/stat` (user + system, every thread: query work, but
 * also the coordinator's planning and scheduling, HTTP, JIT and GC that a query's completion
 * event does not count).
 *
 * @module
 */

/**
 * User + system CPU clock ticks of one `/proc/<pid>/stat` line. The command name (field 2) is in
 * parentheses and may hold spaces or parentheses itself, so fields are counted from the last `)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statCpuTicks } from "./process_cpu.ts";
 * // utime (field 14) = 8593, stime (field 15) = 739
 * const line = "14036 (trino (x) y) S 1 14036 14036 0 -1 4194304 1162507 23666 0 2 8593 739 54 11";
 * assert.equal(statCpuTicks(line), 9332);
 * ```
 */
export function statCpuTicks(stat: string): number {
  const close = stat.lastIndexOf(")");
  // After ")": state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
  const fields = close < 0 ? [] : stat.slice(close + 1).trim().split(/\s+/);
  const utime = Number(fields[11]), stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  }
  return utime + stime;
}

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK` (100 on every common Linux), read once. */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const { stdout } = new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" })
      .outputSync();
    const n = Number(new TextDecoder().decode(stdout).trim());
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** CPU-seconds (user + system) process `pid` has used so far; throws when it is gone. */
export function processCpuSeconds(pid: number): number {
  return statCpuTicks(Deno.readTextFileSync(`/proc/${pid}/stat`)) / clockTicks();
}
