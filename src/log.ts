/**
 * Structured logging that cannot carry SQL: a log record only has the fields declared here,
 * so query text has no way into a log line (design document 8.2, privacy).
 *
 * @module
 */

/** The only fields a log line may carry. */
export interface LogFields {
  readonly queryId?: string;
  readonly route?: string;
  readonly status?: number;
  readonly decision?: string;
  readonly reason?: string;
  readonly modelVersion?: string;
  readonly modelScore?: number;
  readonly statementKind?: string;
  readonly durationMs?: number;
  /** Rollout mode the decision was made under. */
  readonly mode?: string;
  /** Cluster the query was sent to (`small` / `large`). */
  readonly cluster?: string;
  readonly error?: string;
  readonly component?: string;
  readonly detail?: string;
}

/** The fields a log line may carry, in output order. */
const LOG_FIELD_NAMES: ReadonlyArray<keyof LogFields> = [
  "queryId",
  "route",
  "status",
  "decision",
  "reason",
  "modelVersion",
  "modelScore",
  "statementKind",
  "durationMs",
  "mode",
  "cluster",
  "error",
  "component",
  "detail",
];

/** Writes one log line. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
let pendingLines: string[] = [];
let flushScheduled = false;

/** Writes the lines buffered so far to stderr, in order; a no-op when none are. */
function flushLines(): void {
  flushScheduled = false;
  if (pendingLines.length === 0) return;
  const bytes = encoder.encode(pendingLines.join("\n") + "\n");
  pendingLines = [];
  // A pipe may take a large batch in parts.
  for (let written = 0; written < bytes.length;) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

// `Deno.exit` (the service's shutdown) dispatches `unload`: lines of the last tick still go out.
globalThis.addEventListener("unload", flushLines);

/**
 * The default sink: stderr, one write per event-loop turn instead of one per line. Under load a
 * turn routes dozens of requests, each logging a line; a synchronous write apiece was a syscall
 * on the hot path. Lines keep their order; a crash loses at most the current turn's.
 */
function stderrLines(line: string): void {
  pendingLines.push(line);
  if (!flushScheduled) {
    flushScheduled = true;
    setTimeout(flushLines, 0);
  }
}

/** A logger: three levels, JSON lines. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * Creates a JSON-lines logger. Field values are copied by name, so an object that happens to
 * carry `sqlText` loses it on the way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const log = createLogger((line) => lines.push(line));
 * log.info("routed", { queryId: "q1", sqlText: "SELECT secret" } as never);
 * assert(!lines[0].includes("secret"));
 * ```
 */
export function createLogger(sink: LogSink = stderrLines): Logger {
  const write = (level: string, message: string, fields: LogFields = {}) => {
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, message };
    for (const key of LOG_FIELD_NAMES) {
      if (fields[key] !== undefined) record[key] = fields[key];
    }
    sink(JSON.stringify(record));
  };
  return {
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
  };
}

/** A component's log line: `level`, `msg` and metadata fields (never SQL). */
export type RecordLog = (line: Record<string, unknown>) => void;

/**
 * Adapts a logger for components that log whole records (the store, the feedback loop): known
 * fields keep their names, other scalar fields are folded into `detail` as `key=value`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger, recordLog } from "./log.ts";
 * const lines: string[] = [];
 * recordLog(createLogger((l) => lines.push(l)), "store")({ level: "warn", msg: "degraded", backend: "redis" });
 * assert(lines[0].includes('"detail":"backend=redis"'));
 * ```
 */
export function recordLog(logger: Logger, component: string): RecordLog {
  return (line) => {
    const { level, msg, ...rest } = line;
    const fields: Record<string, unknown> = { component };
    const detail: string[] = [];
    for (const [key, value] of Object.entries(rest)) {
      if ((LOG_FIELD_NAMES as readonly string[]).includes(key)) fields[key] = value;
      else if (value !== null && typeof value !== "object") detail.push(`${key}=${value}`);
    }
    if (detail.length > 0) fields.detail = detail.join(" ");
    const write = level === "error" ? logger.error : level === "warn" ? logger.warn : logger.info;
    write(String(msg ?? "event"), fields as LogFields);
  };
}
