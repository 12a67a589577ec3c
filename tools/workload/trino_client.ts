/**
 * A minimal Trino REST client-protocol client for the workload tools: POST /v1/statement, then
 * follow `nextUri` until it disappears, discarding result rows.
 *
 * @module
 */

/** Client headers sent on the POST (the only request where Trino reads them). */
export interface QuerySession {
  readonly user: string;
  readonly source?: string;
  readonly catalog?: string;
  readonly schema?: string;
  readonly clientTags?: readonly string[];
  /** `X-Trino-Client-Info`: free text Trino copies into the event's `context.clientInfo`. */
  readonly clientInfo?: string;
  /** `X-Trino-Session` properties (e.g. a lower `query_max_cpu_time`). */
  readonly sessionProperties?: Readonly<Record<string, string>>;
}

/** What the client saw of one query. */
export interface QueryOutcome {
  /** Trino's query id; empty when the POST itself failed. */
  readonly queryId: string;
  /** `FINISHED`, `FAILED`, `TIMEOUT` (cancelled by this client) or `CLIENT_ERROR`. */
  readonly state: string;
  readonly errorName?: string;
  readonly errorType?: string;
  readonly rows: number;
  readonly elapsedMs: number;
}

interface StatementResponse {
  id?: string;
  nextUri?: string;
  data?: unknown[];
  stats?: { state?: string };
  error?: { errorName?: string; errorType?: string; message?: string };
}

/** Options of {@linkcode executeQuery}. */
export interface ExecuteOptions {
  /** Client-side timeout; on expiry the query is cancelled with DELETE nextUri. */
  readonly timeoutMs: number;
  /** Receives each page of result rows (the default discards them). */
  readonly onRows?: (rows: unknown[][]) => void;
}

/**
 * Executes one statement against a Trino coordinator and waits until it ends.
 *
 * @example
 * ```ts ignore
 * // Not run here: needs a Trino coordinator (test/e2e/trino_cluster_test.ts runs queries on one).
 * import { executeQuery } from "./trino_client.ts";
 * const out = await executeQuery("http://127.0.0.1:18082", "SELECT 1", { user: "me" }, {
 *   timeoutMs: 10_000,
 * });
 * console.log(out.state);
 * ```
 */
export async function executeQuery(
  baseUrl: string,
  sql: string,
  session: QuerySession,
  options: ExecuteOptions,
): Promise<QueryOutcome> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  const headers: Record<string, string> = { "X-Trino-User": session.user };
  if (session.source) headers["X-Trino-Source"] = session.source;
  if (session.catalog) headers["X-Trino-Catalog"] = session.catalog;
  if (session.schema) headers["X-Trino-Schema"] = session.schema;
  if (session.clientTags?.length) headers["X-Trino-Client-Tags"] = session.clientTags.join(",");
  if (session.clientInfo) headers["X-Trino-Client-Info"] = session.clientInfo;
  const props = Object.entries(session.sessionProperties ?? {});
  if (props.length) {
    headers["X-Trino-Session"] = props.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(",");
  }

  let queryId = "";
  let rows = 0;
  const done = (state: string, extra: Partial<QueryOutcome> = {}): QueryOutcome => ({
    queryId,
    state,
    rows,
    elapsedMs: Math.round(performance.now() - started),
    ...extra,
  });

  let response: StatementResponse;
  try {
    response = await request(`${baseUrl}/v1/statement`, "POST", headers, sql);
  } catch (e) {
    return done("CLIENT_ERROR", { errorName: String(e) });
  }
  for (;;) {
    queryId = response.id ?? queryId;
    rows += response.data?.length ?? 0;
    if (response.data && options.onRows) options.onRows(response.data as unknown[][]);
    if (response.error) {
      return done("FAILED", {
        errorName: response.error.errorName,
        errorType: response.error.errorType,
      });
    }
    const next = response.nextUri;
    if (!next) return done(response.stats?.state ?? "FINISHED");
    if (performance.now() > deadline) {
      // Cancel so the server stops spending CPU on a query nobody waits for.
      await fetch(next, { method: "DELETE", headers }).then((r) => r.body?.cancel()).catch(
        () => {},
      );
      return done("TIMEOUT");
    }
    try {
      response = await request(next, "GET", headers);
    } catch (e) {
      return done("CLIENT_ERROR", { errorName: String(e) });
    }
  }
}

async function request(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<StatementResponse> {
  // 502/503/504 are transient in the protocol: the client retries the same URI.
  for (let attempt = 0;; attempt++) {
    const res = await fetch(url, { method, headers, body });
    if ((res.status === 502 || res.status === 503 || res.status === 504) && attempt < 20) {
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      continue;
    }
    if (!res.ok) {
      const text = await res.text();
      throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    return await res.json() as StatementResponse;
  }
}
