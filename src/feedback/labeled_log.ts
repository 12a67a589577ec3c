/**
 * The labeled log: completion events joined with the router's decision, one JSON object per line,
 * in the query-log format the training pipeline reads. The only place the product writes SQL.
 *
 * @module
 */

/** Default {@linkcode LabeledLog.maxBytes}: 1 GiB, about a million logged queries. */
export const DEFAULT_LABELED_LOG_MAX_BYTES = 1024 ** 3;

/**
 * Appends lines to a file, one whole line per write, in call order, never throwing.
 *
 * Why a dedicated writer: events arrive concurrently and a line must never interleave with
 * another; the file holds SQL, so it is created readable by its owner and group only; a
 * failing disk must cost the feedback loop a counter, not an exception; and the file never
 * grows past `maxBytes` (lines past it are counted as `overLimit` until `reopen()` after a
 * rotation), so a burst of events cannot fill the disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LabeledLog } from "./labeled_log.ts";
 * const path = await Deno.makeTempFile({ suffix: ".jsonl" });
 * const log = new LabeledLog(path);
 * await log.append({ metadata: { queryId: "q1" }, routing: null });
 * await log.close();
 * assert((await Deno.readTextFile(path)).endsWith("}\n"));
 * ```
 */
export class LabeledLog {
  readonly path: string;
  readonly maxBytes: number;
  #file: Promise<Deno.FsFile> | undefined;
  /** Size of the open file (read at open, then counted). */
  #size = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #written = 0;
  #failed = 0;
  #overLimit = 0;
  #closed = false;
  readonly #encoder = new TextEncoder();

  constructor(path: string, options: { readonly maxBytes?: number } = {}) {
    this.path = path;
    this.maxBytes = options.maxBytes ?? DEFAULT_LABELED_LOG_MAX_BYTES;
  }

  /** Lines written, lost to write errors, and refused past `maxBytes`, since start. */
  get stats(): { readonly written: number; readonly failed: number; readonly overLimit: number } {
    return { written: this.#written, failed: this.#failed, overLimit: this.#overLimit };
  }

  /**
   * Appends `record` as one JSON line. Resolves `true` once written, `false` if it could not be
   * (the error is counted, not thrown).
   */
  append(record: unknown): Promise<boolean> {
    let bytes: Uint8Array;
    try {
      bytes = this.#encoder.encode(JSON.stringify(record) + "\n");
    } catch {
      this.#failed++;
      return Promise.resolve(false);
    }
    const done = this.#tail.then(() => this.#write(bytes));
    this.#tail = done;
    return done;
  }

  /**
   * Closes the file after pending lines so that the next line opens the path anew: call it after
   * a log rotation that renamed the file (e.g. on SIGHUP).
   */
  reopen(): Promise<void> {
    const done = this.#tail.then(async () => {
      const file = this.#file;
      this.#file = undefined;
      (await file?.catch(() => undefined))?.close();
    });
    this.#tail = done;
    return done;
  }

  /** Waits for pending lines and closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
    const file = this.#file;
    this.#file = undefined;
    if (file) (await file.catch(() => undefined))?.close();
  }

  async #write(bytes: Uint8Array): Promise<boolean> {
    if (this.#closed) {
      this.#failed++;
      return false;
    }
    try {
      if (this.#file === undefined) {
        this.#file = Deno.open(this.path, { append: true, create: true, mode: 0o640 });
        this.#size = (await (await this.#file).stat()).size;
      }
      const file = await this.#file;
      if (this.#size + bytes.length > this.maxBytes) {
        this.#overLimit++;
        return false;
      }
      this.#size += bytes.length;
      let offset = 0;
      while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
      this.#written++;
      return true;
    } catch {
      // Reopen next time: the file may have been rotated away or the disk freed.
      const file = this.#file;
      this.#file = undefined;
      try {
        (await file)?.close();
      } catch {
        // Already closed or never opened.
      }
      this.#failed++;
      return false;
    }
  }
}
