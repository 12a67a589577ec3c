/**
 * The router's HTTP(S) listener, with per-connection limits `Deno.serve` does not offer: a
 * deadline for a request's headers (from the connection's start or its previous answer), one for
 * the whole request (the router's only body deadline), an idle keep-alive timeout, and a cap on
 * open connections that sheds the longest-idle connection to admit a new one. Built on Deno's `node:http` server (Node's
 * connection handling and timeouts) with a thin adapter to the app's `fetch` handler.
 *
 * Why not `Deno.serve`: it keeps a silent, a half-sent or a keep-alive connection open forever
 * (measured: all three still open after 150 s), has no connection count, and rejects its accept
 * loop with `Too many open files` once idle connections take every descriptor.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";

/** Limits per connection and on the number of connections. */
export interface ConnectionLimits {
  /** A request's headers must arrive whole within this time (`HEADER_TIMEOUT_MS`); else 408. */
  readonly headerTimeoutMs: number;
  /**
   * A whole request (headers and body) must arrive within this time; else 408 and the
   * connection is closed. The router's one body deadline (`HEADER_TIMEOUT_MS` +
   * `BODY_TIMEOUT_MS`): it sees every request, small bodies read here before any handler
   * included, frees the connection as well as the body's bytes, and costs no timer per request.
   * A handler still reading the body sees its read fail.
   */
  readonly requestTimeoutMs: number;
  /** A keep-alive connection without a request for this long is closed (`IDLE_TIMEOUT_MS`). */
  readonly idleTimeoutMs: number;
  /**
   * Open connections at most (`MAX_CONNECTIONS`). A new one past the cap closes the connection
   * idle the longest (waiting for its first or next request); when every connection is serving a
   * request, the new one is closed at once.
   */
  readonly maxConnections: number;
}

/** Options of {@linkcode serveHttp}. */
export interface HttpListenOptions {
  readonly hostname: string;
  /** 0 = any free port (see {@linkcode HttpListener.addr}). */
  readonly port: number;
  /** PEM certificate chain and key: serve HTTPS. */
  readonly cert?: string;
  readonly key?: string;
  /** Several processes share the port (`SO_REUSEPORT`; needs `--unstable-net`). */
  readonly reusePort?: boolean;
  readonly limits: ConnectionLimits;
  readonly onListen?: (address: { hostname: string; port: number }) => void;
  /** Told when the listener failed and listens again (never given request data). */
  readonly onRestart?: (error: Error, delayMs: number) => void;
}

/** A listener started by {@linkcode serveHttp}. */
export interface HttpListener {
  readonly addr: { readonly hostname: string; readonly port: number };
  /**
   * Stops listening, closes idle connections, gives open requests {@linkcode SHUTDOWN_GRACE_MS},
   * then closes every connection.
   */
  shutdown(): Promise<void>;
}

/**
 * Bodies up to this size are read whole before the handler runs (at most this much per open
 * connection outside the in-flight budget); larger ones stream, read as the handler consumes.
 */
const SMALL_BODY_BYTES = 16 * 1024;

/** Time open requests get to finish when the listener shuts down. */
export const SHUTDOWN_GRACE_MS = 2_000;

type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A connection's requests in flight; the map's order is the order of last activity. */
type Connections = Map<Socket, { busy: number }>;

const isDescriptorFailure = (error: unknown): boolean =>
  error instanceof Error && /too many open files|EMFILE|ENFILE/i.test(String(error.message));

/**
 * Serves `handler` with the connection `limits`; the listener also outlives running out of
 * descriptors (listens again after a growing delay).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveHttp } from "./http_listener.ts";
 * const listener = await serveHttp({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   limits: {
 *     headerTimeoutMs: 10_000,
 *     requestTimeoutMs: 20_000,
 *     idleTimeoutMs: 5_000,
 *     maxConnections: 10,
 *   },
 * }, () => Response.json({ ok: true }));
 * const response = await fetch(`http://127.0.0.1:${listener.addr.port}/`);
 * assert.deepEqual(await response.json(), { ok: true });
 * await listener.shutdown();
 * ```
 */
export async function serveHttp(
  options: HttpListenOptions,
  handler: FetchHandler,
): Promise<HttpListener> {
  const { limits } = options;
  const scheme = options.cert ? "https" : "http";
  const connections: Connections = new Map();
  const serverOptions = {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headerTimeoutMs + 1),
    keepAliveTimeout: limits.idleTimeoutMs,
    // How often expired header/request deadlines are looked for: a tenth of the header deadline.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headerTimeoutMs / 10)),
  };
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = rawSocket(req.socket);
    const entry = connections.get(socket);
    if (entry) entry.busy++;
    res.once("close", () => {
      if (!entry || !connections.has(socket)) return;
      entry.busy--;
      // Most recently active last: eviction looks from the front.
      connections.delete(socket);
      connections.set(socket, entry);
    });
    respond(req, res, handler, origin).catch(() => res.destroy());
  };
  const server = options.cert
    ? https.createServer({ ...serverOptions, cert: options.cert, key: options.key }, onRequest)
    : http.createServer(serverOptions, onRequest);
  // Node's own answers to a request it could not take (deadline passed, malformed, headers too
  // large) carry no body; these name the problem in JSON like every other router error.
  server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
    const response = socket as Socket & { _httpMessage?: { headersSent?: boolean } };
    // Reset by the client, or an answer already under way: nothing can be said any more.
    if (error.code === "ECONNRESET" || !socket.writable || response._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorResponse(error.code, serverOptions), () => socket.destroy());
  });
  server.on("connection", (socket: Socket) => {
    if (connections.size >= limits.maxConnections) {
      const idle = longestIdle(connections);
      if (idle) {
        connections.delete(idle);
        idle.destroy();
      } else {
        socket.destroy();
        return;
      }
    }
    connections.set(socket, { busy: 0 });
    socket.once("close", () => connections.delete(socket));
  });
  const listenOptions = {
    host: options.hostname,
    port: options.port,
    ...(options.reusePort ? { reusePort: true } : {}),
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenOptions, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const addr = {
    hostname: options.hostname,
    port: typeof address === "object" && address ? address.port : options.port,
  };
  const origin = `${scheme}://${
    addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
  }:${addr.port}`;
  options.onListen?.(addr);

  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const relisten = (delayMs: number) => {
    timer = setTimeout(() => {
      if (stopped) return;
      server.listen({ ...listenOptions, port: addr.port });
    }, delayMs);
  };
  let delayMs = 50;
  server.on("error", (error: Error) => {
    if (stopped) return;
    // Out of descriptors (or the port briefly busy on a restart): close and listen again later.
    options.onRestart?.(error, delayMs);
    if (isDescriptorFailure(error) || server.listening) server.close();
    relisten(delayMs);
    delayMs = Math.min(delayMs * 2, 2_000);
  });
  server.on("listening", () => delayMs = 50);

  return {
    addr,
    shutdown: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        clearTimeout(timer);
        // Closing stops the header-deadline checks too: a silent or half-sent connection would
        // hold the shutdown for as long as its client likes. Requests get a grace period, then
        // every connection is closed.
        const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** A raw HTTP/1.1 answer, JSON, to a request the parser or a deadline refused. */
function clientErrorResponse(
  code: string | undefined,
  deadlines: { readonly headersTimeout: number; readonly requestTimeout: number },
): string {
  const [status, error] = code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? [
      "408 Request Timeout",
      `request not received in time: headers within ${deadlines.headersTimeout} ms, ` +
      `the whole request within ${deadlines.requestTimeout} ms`,
    ]
    : code === "HPE_HEADER_OVERFLOW"
    ? ["431 Request Header Fields Too Large", "request headers too large"]
    : ["400 Bad Request", "malformed HTTP request"];
  const body = JSON.stringify({ error });
  return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** The TCP socket under a TLS socket (the one the cap counts), or the socket itself. */
function rawSocket(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}

function longestIdle(connections: Connections): Socket | undefined {
  for (const [socket, entry] of connections) if (entry.busy === 0) return socket;
  return undefined;
}

async function respond(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handler: FetchHandler,
  origin: string,
): Promise<void> {
  const target = req.url ?? "";
  // Origin-form only (`/path?query`), as Envoy and Trino send; the base is the listener's own
  // address, never the client's Host header.
  if (!target.startsWith("/")) {
    res.writeHead(400, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify({ error: "malformed request: the target must be a path" }));
    return;
  }
  const raw = req.rawHeaders;
  // Header pairs rather than a `Headers` object: Request copies them once instead of twice.
  const pairs: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]]);
  const method = req.method ?? "GET";
  const declared = Number(req.headers["content-length"]);
  let requestBody: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null = null;
  if (method === "GET" || method === "HEAD") requestBody = null;
  else if (Number.isSafeInteger(declared) && declared <= SMALL_BODY_BYTES) {
    // A small body (a routing request) is read here whole: cheaper than a stream.
    const bytes = await readSmallBody(req);
    if (bytes === undefined) return; // the client went away
    requestBody = bytes;
  } else requestBody = bodyStream(req);
  let response: Response;
  try {
    response = await handler(
      new Request(origin + target, {
        method,
        headers: pairs,
        body: requestBody,
        duplex: "half",
      } as RequestInit),
    );
  } catch {
    response = Response.json({ error: "internal error" }, { status: 500 });
  }
  // Text goes out as a string: Node then writes headers and body in one write (a byte body
  // costs a second buffer in a vectored write). Every router answer is JSON or text.
  const text = /^(text\/|application\/json)/.test(response.headers.get("content-type") ?? "");
  const body = response.body === null
    ? undefined
    : text
    ? await response.text()
    : new Uint8Array(await response.arrayBuffer());
  const headers: string[] = [];
  response.headers.forEach((value, name) => headers.push(name, value));
  if (body !== undefined && !response.headers.has("content-length")) {
    const bytes = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    headers.push("content-length", String(bytes));
  }
  // The handler answered before the body arrived whole (too large, over budget): close rather
  // than read the rest of it.
  if (!req.complete) headers.push("connection", "close");
  res.writeHead(response.status, headers);
  res.end(body);
}

/** A body of at most {@linkcode SMALL_BODY_BYTES}, or undefined when the request was aborted. */
function readSmallBody(
  req: http.IncomingMessage,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      // More than declared: not a valid HTTP/1.1 body; the parser fails the request first.
      if (size <= SMALL_BODY_BYTES) chunks.push(chunk);
    });
    req.once("end", () => {
      const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      resolve(
        new Uint8Array(whole.buffer as ArrayBuffer, whole.byteOffset, whole.byteLength),
      );
    });
    req.once("close", () => resolve(undefined));
  });
}

/** The request body as a web stream, read only as fast as the handler consumes it. */
function bodyStream(req: http.IncomingMessage): ReadableStream<Uint8Array> {
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Uint8Array) => {
        if (done) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) req.pause();
      });
      req.once("end", () => {
        if (!done) controller.close();
        done = true;
      });
      // Reset or timed out before the body ended: the handler's read fails.
      req.once("close", () => {
        if (!done) controller.error(new Error("request body aborted"));
        done = true;
      });
      req.pause();
    },
    pull() {
      req.resume();
    },
    cancel() {
      done = true;
      req.pause();
    },
  });
}
