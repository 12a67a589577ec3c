/**
 * Test helper: a stub Trino coordinator speaking just enough of the client protocol (POST
 * statement, paged GET of nextUri, DELETE cancel) and recording every request it got.
 *
 * @module
 */

/** One request the stub received. */
export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly forwardedPrefix: string | null;
  /** Must always be null: Envoy keeps routing headers away from Trino. */
  readonly routingGroupHeader: string | null;
  readonly trinoUser: string | null;
  readonly clientTags: string | null;
  readonly bodyBytes: number;
  /** The SQL of a submission (tests only; the product never logs it). */
  readonly body: string;
}

/** Options of {@linkcode TrinoStub.start}. */
export interface TrinoStubOptions {
  /** Result pages per query (data rows: one per page). */
  readonly pages?: number;
}

/**
 * A stub Trino coordinator on a free loopback port. Like Trino ≥ 452 with
 * `http-server.process-forwarded=true`, it builds `nextUri` from `X-Forwarded-Proto`, `Host`
 * and `X-Forwarded-Prefix`; like Trino, it answers 404 for a query id it does not know, so a
 * follow-up sent to the wrong cluster fails the query.
 *
 * @example
 * ```ts ignore
 * const stub = await TrinoStub.start("small");
 * // ... point Envoy at stub.port ...
 * await stub.stop();
 * ```
 */
export class TrinoStub {
  readonly name: string;
  readonly requests: StubRequest[] = [];
  readonly cancelled = new Set<string>();
  #server: Deno.HttpServer<Deno.NetAddr>;
  #queries = new Map<string, { pages: number }>();
  #pages: number;
  #next = 0;

  private constructor(name: string, pages: number) {
    this.name = name;
    this.#pages = pages;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  /** Starts a stub named `small` or `large` (the name is part of its query ids). */
  static start(name: string, options: TrinoStubOptions = {}): Promise<TrinoStub> {
    return Promise.resolve(new TrinoStub(name, options.pages ?? 3));
  }

  get port(): number {
    return this.#server.addr.port;
  }

  /** Statement submissions (`POST /v1/statement`) this stub received. */
  get submissions(): StubRequest[] {
    return this.requests.filter((r) => r.method === "POST" && r.path === "/v1/statement");
  }

  async stop(): Promise<void> {
    await this.#server.shutdown();
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const body = new Uint8Array(await request.arrayBuffer());
    this.requests.push({
      method: request.method,
      path: url.pathname,
      forwardedPrefix: request.headers.get("x-forwarded-prefix"),
      routingGroupHeader: request.headers.get("x-trino-routing-group"),
      trinoUser: request.headers.get("x-trino-user"),
      clientTags: request.headers.get("x-trino-client-tags"),
      bodyBytes: body.length,
      body: new TextDecoder().decode(body),
    });
    const base = `${request.headers.get("x-forwarded-proto") ?? "http"}://${
      request.headers.get("host")
    }${request.headers.get("x-forwarded-prefix") ?? ""}`;
    if (request.method === "POST" && url.pathname === "/v1/statement") {
      const id = `20260101_000000_${String(this.#next++).padStart(5, "0")}_${this.name}`;
      this.#queries.set(id, { pages: this.#pages });
      return Response.json({
        id,
        infoUri: `${base}/ui/query.html?${id}`,
        nextUri: `${base}/v1/statement/queued/${id}/y/1`,
        stats: { state: "QUEUED", queued: true, scheduled: false },
      });
    }
    const match = url.pathname.match(
      /^\/v1\/statement\/(queued|executing)\/([^/]+)\/[^/]+\/(\d+)$/,
    );
    if (!match) return new Response("not found", { status: 404 });
    const [, , id, tokenText] = match;
    const query = this.#queries.get(id);
    if (!query) return new Response(`Query not found: ${id}`, { status: 404 });
    if (request.method === "DELETE") {
      this.cancelled.add(id);
      return new Response(null, { status: 204 });
    }
    const token = Number(tokenText);
    const finished = token > query.pages;
    return Response.json({
      id,
      infoUri: `${base}/ui/query.html?${id}`,
      ...(finished ? {} : { nextUri: `${base}/v1/statement/executing/${id}/y/${token + 1}` }),
      columns: [{ name: "page", type: "integer" }],
      data: token <= query.pages ? [[token]] : undefined,
      stats: { state: finished ? "FINISHED" : "RUNNING" },
    });
  }
}
