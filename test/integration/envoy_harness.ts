/**
 * Test helper: the real router service served on a loopback port with switchable faults
 * (slow, 500), a minimal Trino protocol client, and a fixture that starts router + two stub
 * clusters + Envoy together.
 *
 * @module
 */

import { type Config, DEFAULT_CONFIG } from "../../src/config.ts";
import { createService, type Service } from "../../src/service.ts";
import { EnvoyProcess } from "../../tools/harness/envoy_process.ts";
import { TrinoStub, type TrinoStubOptions } from "./envoy_trino_stub.ts";

/** What the router does to each request. */
export type RouterFault = "none" | "slow" | "error500";

/**
 * The real service (`createService`) on a free loopback port, built on an empty models folder
 * so that the built-in heuristic model (`sql_length > 2000 OR joins > 3`) decides, whatever
 * trained models the repository holds.
 */
export class RouterServer {
  fault: RouterFault = "none";
  /** Delay of the `slow` fault; past Envoy's 500 ms ext_authz timeout. */
  slowMs = 800;
  /** ext_authz calls received (the fault applies after counting). */
  extAuthzCalls = 0;
  /** Headers of the last ext_authz call, to check what Envoy shares with the router. */
  lastExtAuthzHeaders?: Headers;
  readonly service: Service;
  #server?: Deno.HttpServer<Deno.NetAddr>;
  #dir: string;
  port = 0;

  private constructor(service: Service, dir: string) {
    this.service = service;
    this.#dir = dir;
  }

  /** Starts the service; `config` overrides the defaults (rollout mode, Redis, admin token). */
  static async start(config: Partial<Config> = {}): Promise<RouterServer> {
    const dir = await Deno.makeTempDir({ prefix: "router-models-" });
    const silent = { info() {}, warn() {}, error() {} };
    const service = await createService({ ...DEFAULT_CONFIG, modelsDir: dir, ...config }, {
      logger: silent,
    });
    const router = new RouterServer(service, dir);
    router.listen();
    return router;
  }

  /** (Re)starts listening, on the previous port when there was one. */
  listen(): void {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: this.port, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.port = this.#server.addr.port;
  }

  async #handle(request: Request): Promise<Response> {
    if (new URL(request.url).pathname.startsWith("/ext_authz")) {
      this.extAuthzCalls++;
      this.lastExtAuthzHeaders = request.headers;
    }
    if (this.fault === "error500") return new Response("boom", { status: 500 });
    if (this.fault === "slow") {
      // Envoy gives up at 500 ms; the late answer is still sent (and shutdown waits for it).
      await new Promise((resolve) => setTimeout(resolve, this.slowMs));
    }
    return this.service.app.fetch(request);
  }

  /** Stops listening (the "router down" case); `listen()` brings it back. */
  async shutdown(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await this.service.close();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** A query's outcome as a Trino client saw it. */
export interface QueryResult {
  readonly id: string;
  readonly rows: unknown[][];
  /** Response headers of the `POST /v1/statement`. */
  readonly postHeaders: Headers;
  /** Every nextUri the client followed. */
  readonly followed: string[];
}

/** Submits `sql` through `baseUrl` and follows `nextUri` to the end, like a Trino client. */
export async function runQuery(
  baseUrl: string,
  sql: string,
  headers: Record<string, string> = {},
): Promise<QueryResult> {
  const post = await fetch(`${baseUrl}/v1/statement`, {
    method: "POST",
    headers: { "X-Trino-User": "test", ...headers },
    body: sql,
  });
  if (!post.ok) throw new Error(`POST /v1/statement: ${post.status} ${await post.text()}`);
  let page = await post.json();
  const rows: unknown[][] = [...(page.data ?? [])];
  const followed: string[] = [];
  while (page.nextUri) {
    followed.push(page.nextUri);
    const response = await fetch(page.nextUri);
    if (!response.ok) {
      throw new Error(`GET ${page.nextUri}: ${response.status} ${await response.text()}`);
    }
    page = await response.json();
    rows.push(...(page.data ?? []));
  }
  return { id: page.id, rows, postHeaders: post.headers, followed };
}

/** Router + Small and Large stubs + Envoy, started together and stopped together. */
export class EnvoyFixture {
  private constructor(
    readonly router: RouterServer,
    readonly small: TrinoStub,
    readonly large: TrinoStub,
    readonly envoy: EnvoyProcess,
  ) {}

  /**
   * Starts the stubs, then the router (`routerConfig` sees the stubs, e.g. to point
   * shadow-route copies at Small), then Envoy.
   */
  static async start(
    stubOptions: TrinoStubOptions = {},
    routerConfig: (stubs: { small: TrinoStub; large: TrinoStub }) => Partial<Config> = () => ({}),
  ): Promise<EnvoyFixture> {
    const small = await TrinoStub.start("small", stubOptions);
    const large = await TrinoStub.start("large", stubOptions);
    const router = await RouterServer.start(routerConfig({ small, large })).catch(async (error) => {
      await Promise.all([small.stop(), large.stop()]);
      throw error;
    });
    const host = "127.0.0.1";
    try {
      const envoy = await EnvoyProcess.start({
        router: { host, port: router.port },
        small: { host, port: small.port },
        large: { host, port: large.port },
      });
      return new EnvoyFixture(router, small, large, envoy);
    } catch (error) {
      await Promise.all([router.stop(), small.stop(), large.stop()]);
      throw error;
    }
  }

  get url(): string {
    return this.envoy.url;
  }

  /** Which stub received the submission of query `id` (ids carry the stub's name). */
  clusterOf(id: string): "small" | "large" | "unknown" {
    if (id.endsWith("_small")) return "small";
    if (id.endsWith("_large")) return "large";
    return "unknown";
  }

  /** Stops everything; returns Envoy's output (access log) for failure messages. */
  async stop(): Promise<string> {
    const [log] = await Promise.all([
      this.envoy.stop(),
      this.router.stop(),
      this.small.stop(),
      this.large.stop(),
    ]);
    return log;
  }
}

/**
 * Runs `body` on a fresh {@linkcode EnvoyFixture} and stops it afterwards, printing Envoy's log
 * when the body failed.
 */
export async function withEnvoyFixture(
  body: (fixture: EnvoyFixture) => Promise<void>,
  stubOptions?: TrinoStubOptions,
  routerConfig?: Parameters<typeof EnvoyFixture.start>[1],
): Promise<void> {
  const fixture = await EnvoyFixture.start(stubOptions, routerConfig);
  let failed = false;
  try {
    await body(fixture);
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    const log = await fixture.stop();
    if (failed) console.error(log);
  }
}

/** A read query the heuristic calls light. */
export const LIGHT_SQL = "SELECT 1";

/** A read query the heuristic calls heavy: more than three joins. */
export const HEAVY_SQL = "SELECT * FROM a JOIN b ON a.x = b.x JOIN c ON b.x = c.x " +
  "JOIN d ON c.x = d.x JOIN e ON d.x = e.x";

/** A write: always Large. */
export const CTAS_SQL = "CREATE TABLE memory.default.t AS SELECT 1 AS x";
