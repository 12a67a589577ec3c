/**
 * A minimal HTTP/1.1 keep-alive client for the load generator (and the wait for a server's
 * readiness): one request at a time per
 * connection, `Content-Length` bodies only. `fetch` costs the generator's core more per request
 * than the router's whole decision, so at thousands of requests per second the generator, not
 * the server, was the limit being measured.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Waits (up to a minute) until the server at `base` answers `GET /readyz` with 200. */
export async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const response = await fetch(`${base}/readyz`);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server did not become ready");
}

/** One response: its status and body text. */
export interface Http1Response {
  readonly status: number;
  readonly body: string;
}

/** A keep-alive connection to one loopback server. */
export class Http1Connection {
  readonly #conn: Deno.TcpConn;
  readonly #host: string;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  /** Connects to `hostname:port`. */
  static async open(hostname: string, port: number): Promise<Http1Connection> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new Http1Connection(conn, `${hostname}:${port}`);
  }

  /** Sends `POST path` with a JSON body and reads the whole response. */
  async post(path: string, body: string): Promise<Http1Response> {
    const payload = encoder.encode(body);
    const head = encoder.encode(
      `POST ${path} HTTP/1.1\r\nHost: ${this.#host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${payload.length}\r\n\r\n`,
    );
    const request = new Uint8Array(head.length + payload.length);
    request.set(head);
    request.set(payload, head.length);
    for (let written = 0; written < request.length;) {
      written += await this.#conn.write(request.subarray(written));
    }
    return await this.#readResponse();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async #readResponse(): Promise<Http1Response> {
    let headerEnd = -1;
    while ((headerEnd = this.#find()) < 0) await this.#fill();
    const head = decoder.decode(this.#buffer.subarray(this.#start, headerEnd));
    this.#start = headerEnd + 4;
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) throw new Error(`response without Content-Length: ${head.split("\r\n")[0]}`);
    const size = Number(length[1]);
    while (this.#end - this.#start < size) await this.#fill();
    const body = decoder.decode(this.#buffer.subarray(this.#start, this.#start + size));
    this.#start += size;
    return { status, body };
  }

  /** Index of the `\r\n\r\n` ending the headers in the buffered bytes, or -1. */
  #find(): number {
    const b = this.#buffer;
    for (let i = this.#start; i + 3 < this.#end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
    }
    return -1;
  }

  async #fill(): Promise<void> {
    if (this.#start > 0) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buffer.length) {
      const larger = new Uint8Array(this.#buffer.length * 2);
      larger.set(this.#buffer);
      this.#buffer = larger;
    }
    const n = await this.#conn.read(this.#buffer.subarray(this.#end));
    if (n === null) throw new Error("connection closed by the server");
    this.#end += n;
  }
}
