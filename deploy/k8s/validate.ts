/**
 * Renders every overlay of `deploy/k8s/` with `kubectl kustomize` and checks the result with the
 * Go validator in `deploy/k8s/validate/` (strict decoding with the official Kubernetes API types,
 * then the deployment's promises). The validator binary is built once per source version and
 * cached outside the repository.
 *
 *     deno task k8s:validate            # every overlay; exit 1 on any problem
 *
 * @module
 */

const HERE = new URL(".", import.meta.url).pathname;

/** The overlays a platform team applies (`deploy/k8s/overlays/<name>`). */
export async function overlays(): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${HERE}overlays`)) {
    if (entry.isDirectory) names.push(entry.name);
  }
  return names.sort();
}

async function run(command: string, args: string[], options: {
  cwd?: string;
  stdin?: string;
  env?: Record<string, string>;
} = {}): Promise<{ success: boolean; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { success, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { success, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * `kubectl kustomize deploy/k8s/overlays/<name>`: the overlay's objects as one YAML stream.
 *
 * @example
 * ```ts ignore
 * // Not run here: needs kubectl (test/integration/k8s_manifests_test.ts renders every overlay).
 * const yaml = await renderOverlay("production");
 * ```
 */
export async function renderOverlay(name: string): Promise<string> {
  const { success, stdout, stderr } = await run("kubectl", [
    "kustomize",
    `${HERE}overlays/${name}`,
  ]);
  if (!success) throw new Error(`kubectl kustomize overlays/${name}: ${stderr}`);
  return stdout;
}

/**
 * Path of the validator binary, built with `go build` when its sources changed (the cache key is
 * a hash of go.mod, go.sum and main.go), so CI pays for the Kubernetes modules once.
 */
export async function validatorBinary(): Promise<string> {
  const sources = ["go.mod", "go.sum", "main.go"];
  const hash = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(
        (await Promise.all(sources.map((f) => Deno.readTextFile(`${HERE}validate/${f}`)))).join(
          "\0",
        ),
      ),
    ),
  );
  const key = [...hash.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  const binary = `${cache}/trino-smart-routing/k8s-validate-${key}`;
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // Not built yet for these sources.
  }
  await Deno.mkdir(`${cache}/trino-smart-routing`, { recursive: true });
  const built = await run("go", ["build", "-mod=readonly", "-o", `${binary}.tmp`, "."], {
    cwd: `${HERE}validate`,
  });
  if (!built.success) throw new Error(`go build deploy/k8s/validate: ${built.stderr}`);
  await Deno.rename(`${binary}.tmp`, binary);
  return binary;
}

/** What the validator said about one YAML stream. */
export interface Validation {
  readonly ok: boolean;
  /** The summary (`objects`, `kinds`, `names`), or `{ items }` with `objects: true`. */
  readonly output: Record<string, unknown>;
  readonly problems: string[];
}

/** Runs the validator on a YAML (or JSON documents) stream. */
export async function validateManifests(
  yaml: string,
  options: { objects?: boolean } = {},
): Promise<Validation> {
  const { success, stdout, stderr } = await run(
    await validatorBinary(),
    options.objects ? ["-objects"] : [],
    { stdin: yaml },
  );
  return {
    ok: success,
    output: stdout.trim() ? JSON.parse(stdout) : {},
    problems: stderr.split("\n").filter((line) => line.trim() !== ""),
  };
}

if (import.meta.main) {
  let failed = false;
  for (const name of await overlays()) {
    const result = await validateManifests(await renderOverlay(name));
    console.log(`${name}: ${result.ok ? "ok" : "FAILED"} ${JSON.stringify(result.output.kinds)}`);
    for (const problem of result.problems) console.log(`  ${problem}`);
    failed ||= !result.ok;
  }
  if (failed) Deno.exit(1);
}
