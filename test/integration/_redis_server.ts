/**
 * Test helper: a throwaway `redis-server` on a free loopback port, without persistence, that a
 * test can kill, freeze and restart.
 *
 * @module
 */

import { commandRuns, freeLoopbackPort } from "../../tools/harness/local_process.ts";

/** True when Debian's `redis-server` is installed (`.ci/install_redis.sh` installs it). */
export function redisServerInstalled(): Promise<boolean> {
  return commandRuns("redis-server", ["--version"]);
}

/**
 * Whether Redis tests should be skipped: only when `redis-server` is missing outside CI. In CI a
 * missing server is a broken setup, so the tests run and fail loudly instead of passing empty.
 */
export async function skipRedisTests(): Promise<boolean> {
  if (await redisServerInstalled()) return false;
  if (Deno.env.get("CI")) return false;
  console.warn("redis-server not installed: skipping (run .ci/install_redis.sh)");
  return true;
}

/** TLS files of a server that listens with TLS only (`--tls-port`, no plaintext port). */
export interface RedisTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

async function ping(port: number, tls: RedisTls | undefined): Promise<boolean> {
  let conn: Deno.Conn | undefined;
  try {
    conn = tls
      ? await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [await Deno.readTextFile(tls.caFile)],
      })
      : await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * A running `redis-server` owned by a test.
 *
 * @example
 * ```ts ignore
 * const redis = await RedisServer.start();
 * try {
 *   console.log(redis.url);
 * } finally {
 *   await redis.stop();
 * }
 * ```
 */
export class RedisServer {
  readonly port: number;
  readonly #tls: RedisTls | undefined;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, tls: RedisTls | undefined) {
    this.port = port;
    this.#tls = tls;
  }

  /**
   * Starts a server on a free loopback port and waits until it answers PING; with `tls` it
   * accepts TLS connections only (clients need not present a certificate).
   */
  static async start(options: { tls?: RedisTls } = {}): Promise<RedisServer> {
    const server = new RedisServer(freeLoopbackPort(), options.tls);
    await server.restart();
    return server;
  }

  /** `redis://127.0.0.1:<port>`, or `rediss://…` for a TLS server. */
  get url(): string {
    return `${this.#tls ? "rediss" : "redis"}://127.0.0.1:${this.port}`;
  }

  /** True while the server process runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** (Re)starts the server on the same port and waits until it answers PING. */
  async restart(timeoutMs = 5_000): Promise<void> {
    if (this.#child) throw new Error("redis-server already running");
    this.#child = new Deno.Command("redis-server", {
      args: [
        ...(this.#tls
          ? [
            "--port",
            "0",
            "--tls-port",
            String(this.port),
            "--tls-cert-file",
            this.#tls.certFile,
            "--tls-key-file",
            this.#tls.keyFile,
            "--tls-ca-cert-file",
            this.#tls.caFile,
            "--tls-auth-clients",
            "no",
          ]
          : ["--port", String(this.port)]),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await ping(this.port, this.#tls)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.stop();
    throw new Error(`redis-server did not answer PING on port ${this.port} in ${timeoutMs} ms`);
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.#terminate("SIGKILL");
  }

  /** Freezes the server: connections stay open but nothing answers, as a hung host would. */
  freeze(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** Resumes a frozen server. */
  thaw(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Stops the server (SIGTERM) and waits for it to exit. */
  async stop(): Promise<void> {
    this.thaw();
    await this.#terminate("SIGTERM");
  }

  async #terminate(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    await child.status;
  }
}
