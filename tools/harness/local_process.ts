/**
 * Small helpers for the processes our scripts and tests start on loopback (Envoy, Redis, Trino
 * Gateway, stub servers).
 *
 * @module
 */

/**
 * A free loopback port (bound, read, released: a tiny race that tests accept).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { freeLoopbackPort } from "./local_process.ts";
 * assert(freeLoopbackPort() > 0);
 * ```
 */
export function freeLoopbackPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * True when `command` exists and exits successfully with `args` (e.g. `--version`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandRuns } from "./local_process.ts";
 * assert(!(await commandRuns("no-such-command-here", ["--version"])));
 * ```
 */
export async function commandRuns(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}
