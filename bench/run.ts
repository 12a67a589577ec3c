/**
 * `deno task bench`: every benchmark in turn, numbers printed.
 *
 * @module
 */

for (const script of ["bench/in_process.ts", "bench/http_load.ts", "bench/envoy_latency.ts"]) {
  console.log(`\n== ${script}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", script],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) Deno.exit(code);
}
