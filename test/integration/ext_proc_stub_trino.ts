/**
 * A stub Trino coordinator speaking the client protocol (enough of it for the retry tests): it honours X-Forwarded-Host/Proto/Prefix like Trino with `http-server.process-forwarded=true`.
 *
 * @module
 */

/** What the stub does when a query's first `nextUri` is fetched (that is when Trino runs it). */
export type StubBehaviour =
  /** Fail with EXCEEDED_LOCAL_MEMORY_LIMIT (error type INSUFFICIENT_RESOURCES). */
  | "fail-resources"
  /** Return one page of rows, then fail with a resource error. */
  | "rows-then-fail"
  /** Return all rows, over several pages. */
  | "rows";

/** A request the stub received (tests check what the retry sent). */
export interface StubRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A running stub. */
export interface StubTrino {
  readonly url: string;
  readonly port: number;
  readonly requests: StubRequest[];
  close(): Promise<void>;
}

/** The rows every stub query returns (`rows` behaviour): 0..rowCount-1 in pages of 4. */
export function expectedRows(rowCount: number): number[][] {
  return Array.from({ length: rowCount }, (_, i) => [i]);
}

/**
 * Starts a stub coordinator on a free loopback port. Query ids start with `name`.
 *
 * @example
 * ```ts ignore
 * const large = startStubTrino({ name: "large", behaviour: "rows", rowCount: 10 });
 * await large.close();
 * ```
 */
export function startStubTrino(
  options: { name: string; behaviour: StubBehaviour; rowCount?: number },
): StubTrino {
  const requests: StubRequest[] = [];
  const rows = expectedRows(options.rowCount ?? 10);
  const pageSize = 4;
  let counter = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const headers = Object.fromEntries(request.headers);
      const body = await request.text();
      requests.push({ method: request.method, path: url.pathname, headers, body });
      // Like Trino behind a proxy: URIs built from the forwarded headers when present.
      const base = `${headers["x-forwarded-proto"] ?? "http"}://${
        headers["x-forwarded-host"] ?? headers.host
      }${headers["x-forwarded-prefix"] ?? ""}`;
      const json = (doc: unknown) =>
        new Response(JSON.stringify(doc), { headers: { "content-type": "application/json" } });
      if (request.method === "POST" && url.pathname === "/v1/statement") {
        const id = `20250811_000000_${String(++counter).padStart(5, "0")}_${options.name}`;
        return json({
          id,
          infoUri: `${base}/ui/query.html?${id}`,
          nextUri: `${base}/v1/statement/queued/${id}/y/1`,
          stats: { state: "QUEUED", queued: true, scheduled: false },
        });
      }
      const match = url.pathname.match(/^\/v1\/statement\/(queued|executing)\/([^/]+)\/y\/(\d+)$/);
      if (request.method === "GET" && match) {
        const [, , id, tokenText] = match;
        const token = Number(tokenText);
        const columns = [{ name: "n", type: "bigint" }];
        const failure = {
          id,
          infoUri: `${base}/ui/query.html?${id}`,
          stats: { state: "FAILED" },
          error: {
            message: "Query exceeded per-node memory limit of 1MB [stub]",
            errorCode: 131079,
            errorName: "EXCEEDED_LOCAL_MEMORY_LIMIT",
            errorType: "INSUFFICIENT_RESOURCES",
          },
        };
        if (options.behaviour === "fail-resources") return json(failure);
        if (options.behaviour === "rows-then-fail" && token > 1) return json(failure);
        const page = rows.slice((token - 1) * pageSize, token * pageSize);
        const more = token * pageSize < rows.length;
        return json({
          id,
          infoUri: `${base}/ui/query.html?${id}`,
          ...(more || options.behaviour === "rows-then-fail"
            ? { nextUri: `${base}/v1/statement/executing/${id}/y/${token + 1}` }
            : {}),
          columns,
          data: page,
          stats: { state: more ? "RUNNING" : "FINISHED" },
        });
      }
      return new Response("Not found", { status: 404 });
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => server.shutdown(),
  };
}

/**
 * Runs a query like a Trino client: POST, then follow every `nextUri` until there is none.
 * Returns all rows, the error if any, every response's headers, and the URIs visited.
 */
export async function runTrinoQuery(
  baseUrl: string,
  sql: string,
  headers: Record<string, string> = { "x-trino-user": "test" },
): Promise<{
  rows: unknown[][];
  error?: { errorName?: string; errorType?: string };
  uris: string[];
  retriedHeader: string | null;
  ids: string[];
}> {
  const rows: unknown[][] = [];
  const uris: string[] = [];
  const ids: string[] = [];
  let retriedHeader: string | null = null;
  let response = await fetch(`${baseUrl}/v1/statement`, { method: "POST", body: sql, headers });
  for (let guard = 0; guard < 10_000; guard++) {
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    retriedHeader ??= response.headers.get("x-trino-router-retried");
    const doc = await response.json();
    if (!ids.includes(doc.id)) ids.push(doc.id);
    if (Array.isArray(doc.data)) rows.push(...doc.data);
    if (doc.error) return { rows, error: doc.error, uris, retriedHeader, ids };
    if (typeof doc.nextUri !== "string") return { rows, uris, retriedHeader, ids };
    uris.push(doc.nextUri);
    response = await fetch(doc.nextUri, { headers });
  }
  throw new Error("too many pages");
}
