/**
 * A tiny loopback HTTP collector for Trino's HTTP event listener: every POSTed
 * query-completed event is appended as one JSON line to a log (gzip when the path ends in
 * `.gz`).
 *
 * @module
 */

/**
 * Bulky diagnostic fields of `QueryCompletedEvent` (plans, per-operator and per-task stats,
 * stack traces): 95–99% of an event's ~100–200 KB. `slim` mode deletes exactly these and keeps
 * every other field as posted, so a slim line is still a valid event for the training pipeline.
 */
export const BULKY_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ["metadata", "payload"],
  ["metadata", "plan"],
  ["metadata", "jsonPlan"],
  ["statistics", "operatorSummaries"],
  ["statistics", "taskStatistics"],
  ["statistics", "optimizerRulesSummaries"],
  ["statistics", "planNodeStatsAndCosts"],
  ["statistics", "outputBufferUtilization"],
  ["statistics", "stageGcStatistics"],
  ["statistics", "cpuTimeDistribution"],
  ["failureInfo", "failuresJson"],
];

/** Deletes {@linkcode BULKY_FIELDS} from a parsed event, in place, and returns it. */
export function slimEvent(event: Record<string, unknown>): Record<string, unknown> {
  for (const [outer, inner] of BULKY_FIELDS) {
    const obj = event[outer];
    if (obj && typeof obj === "object") delete (obj as Record<string, unknown>)[inner];
  }
  return event;
}

/** Options of {@linkcode startCollector}. */
export interface CollectorOptions {
  /** Loopback port to listen on. */
  readonly port: number;
  /** Log path; `.gz` means gzip. Omit to keep events in memory only. */
  readonly out?: string;
  /** Drop {@linkcode BULKY_FIELDS} before writing (the verbatim body goes to `rawOut`). */
  readonly slim?: boolean;
  /** Optional second log receiving each POST body verbatim. */
  readonly rawOut?: string;
  /** Keep the lines already in the logs (default: start them afresh). */
  readonly append?: boolean;
}

/** A running collector. */
export interface Collector {
  /** Events received so far, by query id (the slimmed object when `slim`). */
  readonly events: Map<string, Record<string, unknown>>;
  /** Resolves when all `queryIds` have an event, or after `timeoutMs` (returns missing ids). */
  waitFor(queryIds: Iterable<string>, timeoutMs: number): Promise<string[]>;
  /** Stops listening and flushes/closes the logs. */
  close(): Promise<void>;
}

interface Log {
  readonly writer: WritableStreamDefaultWriter<string>;
  /** Settles once every byte reached the file. */
  readonly flushed: Promise<void>;
}

/**
 * Writes JSON lines to a log (gzip when the path ends in `.gz`), after the existing lines when
 * `append`.
 */
export async function writeLog(
  path: string,
  lines: Iterable<string>,
  append = false,
): Promise<void> {
  const log = await openLog(path, append);
  for (const line of lines) await log.writer.write(line + "\n");
  await log.writer.close();
  await log.flushed;
}

async function openLog(path: string, append: boolean): Promise<Log> {
  const gzip = path.endsWith(".gz");
  // Appending to .gz rewrites the old lines into one fresh gzip member: Deno's
  // DecompressionStream rejects multi-member gzip files (`cat a.gz b.gz`), so we never make one.
  let previous = "";
  if (gzip && append) {
    try {
      const old = await Deno.readFile(path);
      previous = await new Response(
        new Blob([old]).stream().pipeThrough(new DecompressionStream("gzip")),
      ).text();
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  const file = await Deno.open(path, {
    create: true,
    write: true,
    append: !gzip && append,
    truncate: gzip || !append,
  });
  const text = new TextEncoderStream();
  const bytes = gzip ? text.readable.pipeThrough(new CompressionStream("gzip")) : text.readable;
  const log = { writer: text.writable.getWriter(), flushed: bytes.pipeTo(file.writable) };
  if (previous) await log.writer.write(previous.endsWith("\n") ? previous : previous + "\n");
  return log;
}

/**
 * Starts the collector on `127.0.0.1:<port>`; it accepts POSTs on any path (the listener's
 * `connect-ingest-uri` decides the path) and answers 200 once the line is queued.
 */
export async function startCollector(options: CollectorOptions): Promise<Collector> {
  const events = new Map<string, Record<string, unknown>>();
  const append = options.append ?? false;
  const out = options.out ? await openLog(options.out, append) : undefined;
  const raw = options.rawOut ? await openLog(options.rawOut, append) : undefined;
  let waiters: Array<() => void> = [];

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
    async (req) => {
      if (req.method !== "POST") return new Response("POST events here\n", { status: 405 });
      const body = await req.text();
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(body);
      } catch {
        return new Response("invalid JSON\n", { status: 400 });
      }
      const queryId = (event.metadata as { queryId?: string } | undefined)?.queryId;
      if (raw) await raw.writer.write(body.replaceAll("\n", " ") + "\n");
      if (options.slim) slimEvent(event);
      if (out) {
        await out.writer.write(
          (options.slim ? JSON.stringify(event) : body.replaceAll("\n", " ")) + "\n",
        );
      }
      if (queryId) events.set(queryId, event);
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
      return new Response(null, { status: 200 });
    },
  );

  return {
    events,
    async waitFor(queryIds, timeoutMs) {
      const ids = [...queryIds];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const missing = ids.filter((id) => !events.has(id));
        const left = deadline - Date.now();
        if (missing.length === 0 || left <= 0) return missing;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 1000));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    async close() {
      await server.shutdown();
      for (const log of [out, raw]) {
        if (!log) continue;
        await log.writer.close();
        await log.flushed;
      }
    },
  };
}
