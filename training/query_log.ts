/**
 * Reading a query log (JSON Lines of Trino `QueryCompletedEvent`s, optionally gzip) into the
 * labeled, de-duplicated, time-ordered rows that training, replay and promotion all share.
 *
 * @module
 */

import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { createHash } from "node:crypto";
import { instantMillis, queryMillis } from "../src/features/context_features.ts";
import { lex } from "../src/sql/lexer.ts";
import { sqlTemplateFingerprint } from "../src/sql/normalize.ts";
import { type StatementKind, statementKind } from "../src/sql/statement_kind.ts";

import {
  durationSeconds,
  type Label,
  labelEvent,
  type LabelThresholds,
  PRODUCTION_THRESHOLDS,
  type QueryCompletedEvent,
} from "../src/labels/query_event.ts";

/** The three partitions. */
export type SplitName = "train" | "valid" | "test";

/**
 * How rows are partitioned: by submission time, or holding out whole template families or
 * whole users (each family/user lands in exactly one split, by a hash of its name).
 */
export type SplitScheme = "time" | "template" | "user";

/** Every scheme, the headline (template-disjoint) first. */
export const SPLIT_SCHEMES: readonly SplitScheme[] = ["template", "user", "time"];

/** Shares of the hash-based (template, user) splits: 20% of groups test, 15% validation. */
const GROUP_TEST_SHARE = 0.2;
const GROUP_VALID_SHARE = 0.15;

/**
 * The split of a family or user under a group scheme: a stable hash of its name, so the same
 * group lands in the same split in every run, log and process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupSplit } from "./query_log.ts";
 * assert.equal(groupSplit("template", "window_rank"), groupSplit("template", "window_rank"));
 * ```
 */
export function groupSplit(scheme: "template" | "user", group: string): SplitName {
  const digest = createHash("sha256").update(`${scheme}\0${group}`).digest();
  const u = digest.readUInt32BE(0) / 2 ** 32;
  return u < GROUP_TEST_SHARE
    ? "test"
    : u < GROUP_TEST_SHARE + GROUP_VALID_SHARE
    ? "valid"
    : "train";
}

/** `family=<id>` (or JSON `{"family": "<id>"}`) in the client info names a structural family. */
const FAMILY_IN_CLIENT_INFO = /"?family"?\s*[=:]\s*"?([\w.:-]{1,128})/;

/**
 * The template family of a query: what the workload generator declared (`family=<id>` in
 * `X-Trino-Client-Info`), else the fingerprint of its literal-free template. Held-out families
 * are the "queries never seen" of the template-disjoint evaluation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { queryFamily } from "./query_log.ts";
 * import type { QueryCompletedEvent } from "../src/labels/query_event.ts";
 * const event = { metadata: { queryId: "q", query: "SELECT 1" }, statistics: {},
 *   context: { clientInfo: "family=f42" } } as unknown as QueryCompletedEvent;
 * assert.equal(queryFamily(event), "f42");
 * ```
 */
export function queryFamily(event: QueryCompletedEvent): string {
  const info = (event.context as { clientInfo?: unknown }).clientInfo;
  const declared = typeof info === "string" ? FAMILY_IN_CLIENT_INFO.exec(info)?.[1] : undefined;
  return declared ?? `fp:${sqlTemplateFingerprint(event.metadata.query ?? "")}`;
}

/** One labeled query of the log, ready to featurize. */
export interface LoggedQuery {
  readonly event: QueryCompletedEvent;
  readonly queryId: string;
  /** Submission time in epoch milliseconds (createTime, else the query id's prefix). */
  readonly time: number;
  readonly heavy: boolean;
  readonly because: Exclude<Label["because"], "unrelated-failure">;
  readonly statementKind: StatementKind;
  readonly cpuSeconds: number;
  /** The split under the log's chosen scheme (`LoadOptions.splitBy`). */
  readonly split: SplitName;
  /** The split under every scheme (reports show all three). */
  readonly splits: Readonly<Record<SplitScheme, SplitName>>;
  /** Template family (see {@linkcode queryFamily}). */
  readonly family: string;
}

/** Where the validation and test splits start, in epoch milliseconds. */
export interface SplitBoundaries {
  readonly validStart: number;
  readonly testStart: number;
}

/** Options of {@linkcode loadQueryLog}. */
export interface LoadOptions {
  readonly thresholds?: LabelThresholds;
  /** Fixed boundaries (e.g. from the data README); else 70/15/15 of the time order. */
  readonly boundaries?: Partial<SplitBoundaries>;
  /** Which scheme `LoggedQuery.split` follows (default `time`, the pipeline's historic cut). */
  readonly splitBy?: SplitScheme;
}

/** A labeled log and how it was cut. */
export interface QueryLog {
  readonly rows: readonly LoggedQuery[];
  readonly boundaries: SplitBoundaries;
  readonly thresholds: LabelThresholds;
  readonly splitBy: SplitScheme;
  /** sha256 of the log file's bytes, as stored (compressed or not); of several files, of all in order. */
  readonly sha256: string;
  /** What was dropped and why. */
  readonly dropped: {
    readonly unrelatedFailure: number;
    readonly duplicate: number;
    readonly unreadable: number;
  };
  readonly lines: number;
  /** The files read, in order (a log argument may name several, or a pattern). */
  readonly files: readonly string[];
}

/**
 * Streams the events of a JSON Lines log, gunzipping when the file starts with the gzip magic
 * bytes, and hashes the stored bytes on the way.
 */
async function* readEvents(
  path: string,
  hash: ReturnType<typeof createHash>,
  onUnreadable: () => void,
): AsyncGenerator<QueryCompletedEvent> {
  const file = await Deno.open(path, { read: true });
  const head = new Uint8Array(2);
  const n = await file.read(head);
  await file.seek(0, Deno.SeekMode.Start);
  const gzip = n === 2 && head[0] === 0x1f && head[1] === 0x8b;
  const hashed = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  // node:zlib, not DecompressionStream: rotated and concatenated production logs are
  // multi-member gzip files, which DecompressionStream rejects after the first member.
  const bytes = gzip
    ? Readable.toWeb(Readable.fromWeb(hashed as never).pipe(createGunzip())) as ReadableStream<
      Uint8Array
    >
    : hashed;
  let rest = "";
  const parse = (line: string): QueryCompletedEvent | undefined => {
    if (line.trim() === "") return undefined;
    try {
      const event = JSON.parse(line) as QueryCompletedEvent;
      if (typeof event?.metadata?.queryId === "string") return event;
    } catch {
      // Counted below: one torn line (a crashed listener) must not sink a whole log.
    }
    onUnreadable();
    return undefined;
  };
  for await (const text of bytes.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + text).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const event = parse(line);
      if (event) yield event;
    }
  }
  const event = parse(rest);
  if (event) yield event;
}

/**
 * The files of a log argument: comma-separated paths, each a file or a `*` pattern in its last
 * component (`data/random_log/chunk-*.jsonl.gz`), matches in name order — the order (and so the
 * sha256) is the same on every machine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { logFiles } from "./query_log.ts";
 * const fixtures = new URL("../test/fixtures/", import.meta.url).pathname;
 * const files = await logFiles(`${fixtures}query_log_*.jsonl,${fixtures}trino_corpus.json`);
 * assert.deepEqual(files, [`${fixtures}query_log_small.jsonl`, `${fixtures}trino_corpus.json`]);
 * ```
 */
export async function logFiles(spec: string): Promise<string[]> {
  const out: string[] = [];
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const slash = part.lastIndexOf("/");
    const dir = slash >= 0 ? part.slice(0, slash) : ".";
    const name = part.slice(slash + 1);
    if (!name.includes("*")) {
      out.push(part);
      continue;
    }
    const pattern = new RegExp(
      "^" + name.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$",
    );
    const matches: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && pattern.test(entry.name)) matches.push(entry.name);
    }
    out.push(...matches.sort().map((m) => (slash >= 0 ? `${dir}/${m}` : m)));
  }
  return out;
}

/**
 * Submission time of an event in epoch ms: the router's rule ({@linkcode queryMillis}: the query
 * id's time, else createTime), NaN when neither has one.
 */
export function eventTime(event: QueryCompletedEvent): number {
  return queryMillis({ queryId: event.metadata.queryId, timestamp: event.createTime });
}

/** Statement kind exactly as the featurizer computes it (same lexer, same token cap). */
export function eventStatementKind(event: QueryCompletedEvent): StatementKind {
  return statementKind(lex(event.metadata.query ?? "").tokens);
}

/**
 * Reads, labels, de-duplicates and splits a query log (several files: their paths joined by
 * commas, read in order as one log). Unrelated failures (`heavy: null`) are
 * dropped; of several lines with one query id (retries), the last attempt is kept; rows are
 * returned in time order, each tagged with its split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadQueryLog } from "./query_log.ts";
 * const fixture = new URL("../test/fixtures/query_log_small.jsonl", import.meta.url).pathname;
 * const log = await loadQueryLog(fixture);
 * assert.ok(log.rows.length > 500);
 * assert.ok(log.rows.every((r, i) => i === 0 || log.rows[i - 1].time <= r.time)); // time order
 * assert.deepEqual(new Set(log.rows.map((r) => r.split)), new Set(["train", "valid", "test"]));
 * ```
 */
export async function loadQueryLog(path: string, options: LoadOptions = {}): Promise<QueryLog> {
  const thresholds = options.thresholds ?? PRODUCTION_THRESHOLDS;
  const hash = createHash("sha256");
  let unreadable = 0;
  let lines = 0;
  const latest = new Map<string, { event: QueryCompletedEvent; order: number; end: number }>();
  let duplicate = 0;
  const files = await logFiles(path);
  if (files.length === 0) throw new Error(`${path}: no log file matches`);
  const events = async function* () {
    for (const file of files) yield* readEvents(file, hash, () => unreadable++);
  };
  for await (const event of events()) {
    const order = lines++;
    const end = instantMillis(event.endTime);
    const seen = latest.get(event.metadata.queryId);
    if (seen) {
      duplicate++;
      // Later end time wins; without end times the later line (completion order) wins.
      if (Number.isFinite(seen.end) && Number.isFinite(end) && end < seen.end) continue;
    }
    latest.set(event.metadata.queryId, { event, order, end });
  }
  let unrelatedFailure = 0;
  const labeled: Array<Omit<LoggedQuery, "split" | "splits" | "family"> & { order: number }> = [];
  for (const { event, order } of latest.values()) {
    const kind = eventStatementKind(event);
    const label = labelEvent(event, thresholds, kind);
    if (label.heavy === null) {
      unrelatedFailure++;
      continue;
    }
    const time = eventTime(event);
    labeled.push({
      event,
      queryId: event.metadata.queryId,
      time: Number.isFinite(time) ? time : Number.NEGATIVE_INFINITY,
      heavy: label.heavy,
      because: label.because,
      statementKind: kind,
      cpuSeconds: durationSeconds(event.statistics.cpuTime) || 0,
      order,
    });
  }
  labeled.sort((a, b) => a.time - b.time || a.order - b.order);
  const boundaries = resolveBoundaries(labeled.map((r) => r.time), options.boundaries);
  const splitBy = options.splitBy ?? "time";
  const rows = labeled.map(({ order: _order, ...row }): LoggedQuery => {
    const family = queryFamily(row.event);
    const splits = {
      time: row.time < boundaries.validStart
        ? "train"
        : row.time < boundaries.testStart
        ? "valid"
        : "test",
      template: groupSplit("template", family),
      user: groupSplit("user", row.event.context.user ?? ""),
    } as const;
    return { ...row, family, splits, split: splits[splitBy] };
  });
  return {
    rows,
    boundaries,
    thresholds,
    splitBy,
    sha256: hash.digest("hex"),
    dropped: { unrelatedFailure, duplicate, unreadable },
    lines,
    files,
  };
}

/**
 * The 70/15/15 cut of sorted times, as boundary times so a boundary never splits rows that
 * share a timestamp; explicit boundaries win.
 */
function resolveBoundaries(
  times: readonly number[],
  given: Partial<SplitBoundaries> = {},
): SplitBoundaries {
  const at = (fraction: number) =>
    times.length === 0 ? 0 : times[Math.min(times.length - 1, Math.floor(times.length * fraction))];
  return {
    validStart: given.validStart ?? at(0.70),
    testStart: given.testStart ?? at(0.85),
  };
}

/** Label thresholds from a `labels.json`, tolerant of the field spellings the data may use. */
export function thresholdsFromJson(json: unknown): LabelThresholds {
  const root = (json ?? {}) as Record<string, unknown>;
  const candidates = [root, root.thresholds, root.labels, root.label].filter(
    (v): v is Record<string, unknown> => typeof v === "object" && v !== null,
  );
  const find = (keys: readonly string[]): number | undefined => {
    for (const c of candidates) {
      for (const k of keys) if (typeof c[k] === "number") return c[k] as number;
    }
    return undefined;
  };
  const cpuSeconds = find(["cpuSeconds", "cpu_seconds", "cpuTimeSeconds", "cpu_time_seconds"]);
  const peakMemoryBytes = find(["peakMemoryBytes", "peak_memory_bytes", "peakUserMemoryBytes"]);
  if (cpuSeconds === undefined) {
    throw new Error("labels file has no CPU threshold (expected `cpuSeconds`)");
  }
  return { cpuSeconds, peakMemoryBytes: peakMemoryBytes ?? PRODUCTION_THRESHOLDS.peakMemoryBytes };
}
