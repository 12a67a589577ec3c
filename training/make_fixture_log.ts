/**
 * Writes the small, deterministic query-log fixture `test/fixtures/query_log_small.jsonl`:
 * realistic Trino `QueryCompletedEvent`s (light reads, heavy reads, writes, failures, retries).
 *
 * @module
 */

import { referencedTables } from "../src/features/table_references.ts";
import { lex } from "../src/sql/lexer.ts";
import type { QueryCompletedEvent } from "../src/labels/query_event.ts";

/** Options of {@linkcode makeFixtureLog}. */
export interface FixtureOptions {
  /** Number of distinct queries (retries add a few more lines). */
  readonly queries?: number;
  /** PRNG seed: the same seed always writes the same bytes. */
  readonly seed?: number;
  /** First day of the log (UTC midnight). */
  readonly start?: string;
  /** Days the log spans. */
  readonly days?: number;
}

/** A mulberry32 PRNG: tiny, seedable, good enough for fixtures. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Shape {
  readonly weight: number;
  readonly sql: (r: () => number) => string;
  /** CPU seconds drawn for this shape: [low, high). */
  readonly cpu: readonly [number, number];
  readonly memoryGiB: readonly [number, number];
  readonly users: readonly string[];
  readonly source: string;
  readonly catalog: string;
  readonly schema: string;
  readonly tags?: readonly string[];
  readonly queryType: string;
  /** Chance the query fails with a resource error (heavy by label). */
  readonly resourceFailure?: number;
}

const pick = <T>(r: () => number, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo));
const day = (r: () => number) => `2026-11-${String(int(r, 1, 28)).padStart(2, "0")}`;

const LONG_IN_LIST = (r: () => number) =>
  Array.from({ length: int(r, 350, 500) }, () => int(r, 1, 150000)).join(", ");

/**
 * Query shapes. Two on purpose defeat the heuristic floor (`sql_length > 2000 OR joins > 3`):
 * short aggregations over the big scale factors are heavy, and long IN-lists on tiny tables
 * are light.
 */
const SHAPES: readonly Shape[] = [
  {
    weight: 22,
    sql: (r) => `SELECT * FROM nation WHERE n_regionkey = ${int(r, 0, 5)}`,
    cpu: [0.01, 0.4],
    memoryGiB: [0, 0.01],
    users: ["alice", "bob", "carol"],
    source: "trino-cli",
    catalog: "tpch",
    schema: "tiny",
    queryType: "SELECT",
  },
  {
    weight: 18,
    sql: (r) =>
      `SELECT o_orderstatus, count(*) AS n, sum(o_totalprice) FROM orders ` +
      `WHERE o_orderdate >= DATE '199${int(r, 2, 8)}-01-01' GROUP BY o_orderstatus ORDER BY n DESC`,
    cpu: [0.5, 12],
    memoryGiB: [0, 0.2],
    users: ["superset"],
    source: "superset",
    catalog: "tpch",
    schema: "sf1",
    tags: ["dashboard"],
    queryType: "SELECT",
  },
  {
    weight: 12,
    sql: (r) =>
      `SELECT page, count(DISTINCT visitor_id) FROM hive.web.events WHERE ds = '${day(r)}' ` +
      `GROUP BY page LIMIT ${pick(r, [100, 1000])}`,
    cpu: [2, 60],
    memoryGiB: [0.1, 1],
    users: ["superset", "dave"],
    source: "superset",
    catalog: "hive",
    schema: "web",
    tags: ["dashboard"],
    queryType: "SELECT",
  },
  {
    // Same shape, either side of the CPU threshold: the label noise a real log has.
    weight: 3,
    sql: (r) =>
      `SELECT visitor_id, count(*) FROM hive.web.events WHERE ds BETWEEN '${day(r)}' AND ` +
      `'${day(r)}' GROUP BY visitor_id ORDER BY 2 DESC LIMIT 50`,
    cpu: [120, 480],
    memoryGiB: [0.5, 4],
    users: ["dave", "erin"],
    source: "trino-cli",
    catalog: "hive",
    schema: "web",
    queryType: "SELECT",
  },
  {
    weight: 6,
    sql: (r) => `SELECT c_custkey, c_name FROM customer WHERE c_custkey IN (${LONG_IN_LIST(r)})`,
    cpu: [0.2, 3],
    memoryGiB: [0, 0.05],
    users: ["erin"],
    source: "python-trino",
    catalog: "tpch",
    schema: "tiny",
    queryType: "SELECT",
  },
  {
    weight: 3,
    sql: () => "SHOW TABLES",
    cpu: [0, 0.05],
    memoryGiB: [0, 0],
    users: ["alice", "dave"],
    source: "trino-cli",
    catalog: "hive",
    schema: "web",
    queryType: "DESCRIBE",
  },
  {
    weight: 7,
    sql: (r) =>
      `SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice * (1 - l_discount)) ` +
      `FROM tpch.sf${pick(r, [1000, 3000])}.lineitem WHERE l_shipdate <= DATE '1998-09-0${
        int(r, 1, 9)
      }' GROUP BY 1, 2`,
    cpu: [320, 2400],
    memoryGiB: [1, 6],
    users: ["frank", "airflow"],
    source: "airflow",
    catalog: "tpch",
    schema: "sf1000",
    tags: ["etl", "nightly"],
    queryType: "SELECT",
    resourceFailure: 0.1,
  },
  {
    weight: 5,
    sql: (r) =>
      `SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue FROM customer ` +
      `JOIN orders ON c_custkey = o_custkey JOIN lineitem ON l_orderkey = o_orderkey ` +
      `JOIN supplier ON l_suppkey = s_suppkey JOIN nation ON s_nationkey = n_nationkey ` +
      `JOIN region ON n_regionkey = r_regionkey WHERE r_name = '${
        pick(r, ["ASIA", "EUROPE", "AMERICA"])
      }' GROUP BY n_name ORDER BY revenue DESC`,
    cpu: [450, 5000],
    memoryGiB: [4, 14],
    users: ["frank", "grace"],
    source: "trino-jdbc",
    catalog: "tpch",
    schema: "sf100",
    tags: ["adhoc"],
    queryType: "SELECT",
    resourceFailure: 0.15,
  },
  {
    weight: 3,
    sql: (r) =>
      `SELECT a.visitor_id, b.visitor_id FROM hive.web.events a CROSS JOIN hive.web.events b ` +
      `WHERE a.ds = '${day(r)}' AND b.ds = '${day(r)}' AND a.page <> b.page`,
    cpu: [600, 9000],
    memoryGiB: [8, 30],
    users: ["dave"],
    source: "trino-cli",
    catalog: "hive",
    schema: "web",
    queryType: "SELECT",
    resourceFailure: 0.4,
  },
  {
    weight: 3,
    sql: (r) =>
      `INSERT INTO iceberg.analytics.daily_pages SELECT ds, page, count(*) FROM hive.web.events ` +
      `WHERE ds = '${day(r)}' GROUP BY ds, page`,
    cpu: [20, 400],
    memoryGiB: [0.5, 3],
    users: ["airflow"],
    source: "airflow",
    catalog: "iceberg",
    schema: "analytics",
    tags: ["etl"],
    queryType: "INSERT",
  },
  {
    weight: 1,
    sql: (r) =>
      `CREATE TABLE iceberg.scratch.orders_${int(r, 100, 999)} AS SELECT * FROM tpch.sf1.orders`,
    cpu: [5, 90],
    memoryGiB: [0.2, 1],
    users: ["grace"],
    source: "trino-cli",
    catalog: "iceberg",
    schema: "scratch",
    queryType: "INSERT",
  },
];

const TOTAL_WEIGHT = SHAPES.reduce((sum, s) => sum + s.weight, 0);

function pickShape(r: () => number): Shape {
  let x = r() * TOTAL_WEIGHT;
  for (const shape of SHAPES) {
    x -= shape.weight;
    if (x < 0) return shape;
  }
  return SHAPES[SHAPES.length - 1];
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

function queryIdAt(millis: number, sequence: number, r: () => number): string {
  const d = new Date(millis);
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}_` +
    `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  const suffix = Array.from({ length: 5 }, () => "abcdefghijkmnpqrstuvwxyz23456789"[int(r, 0, 32)])
    .join("");
  return `${stamp}_${pad(sequence % 100000, 5)}_${suffix}`;
}

/**
 * Generates the fixture's events, in completion order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeFixtureLog } from "./make_fixture_log.ts";
 * const events = makeFixtureLog({ queries: 20 });
 * assert(events.length >= 20);
 * ```
 */
export function makeFixtureLog(options: FixtureOptions = {}): QueryCompletedEvent[] {
  const { queries = 700, seed = 4, start = "2026-11-01T00:00:00Z", days = 14 } = options;
  const r = prng(seed);
  const t0 = Date.parse(start);
  const span = days * 86_400_000;
  const times = Array.from({ length: queries }, () => t0 + Math.floor(r() * span)).sort((a, b) =>
    a - b
  );
  const events: QueryCompletedEvent[] = [];
  times.forEach((created, i) => {
    const syntaxError = r() < 0.03;
    const shape = pickShape(r);
    const queryId = queryIdAt(created, i, r);
    const sql = syntaxError ? `SELEC * FRM ${pick(r, ["orders", "nation"])}` : shape.sql(r);
    const cpu = shape.cpu[0] + r() * (shape.cpu[1] - shape.cpu[0]);
    const memory = Math.round(
      (shape.memoryGiB[0] + r() * (shape.memoryGiB[1] - shape.memoryGiB[0])) * 1024 ** 3,
    );
    const resourceFailure = !syntaxError && r() < (shape.resourceFailure ?? 0);
    const wall = Math.max(0.05, cpu / (4 + r() * 40));
    const base = {
      created,
      queryId,
      sql,
      shape,
      user: pick(r, shape.users),
    };
    // A resource failure is often retried by the client under the same query id (Trino's
    // fault-tolerant retries): the log then holds two lines and the last attempt counts.
    if (resourceFailure && r() < 0.5) {
      events.push(toEvent(base, cpu / 3, memory, wall / 3, "EXCEEDED_TIME_LIMIT"));
    }
    const failure = syntaxError ? "SYNTAX_ERROR" : resourceFailure
      ? pick(r, [
        "EXCEEDED_GLOBAL_MEMORY_LIMIT",
        "CLUSTER_OUT_OF_MEMORY",
        "EXCEEDED_CPU_LIMIT",
      ])
      : undefined;
    events.push(toEvent(base, syntaxError ? 0.001 : cpu, memory, wall, failure, r() < 0.2));
  });
  return events;
}

const ERROR_CODES: Record<string, { code: number; type: string }> = {
  SYNTAX_ERROR: { code: 1, type: "USER_ERROR" },
  EXCEEDED_GLOBAL_MEMORY_LIMIT: { code: 131076, type: "INSUFFICIENT_RESOURCES" },
  CLUSTER_OUT_OF_MEMORY: { code: 131081, type: "INSUFFICIENT_RESOURCES" },
  EXCEEDED_CPU_LIMIT: { code: 131080, type: "INSUFFICIENT_RESOURCES" },
  EXCEEDED_TIME_LIMIT: { code: 131079, type: "INSUFFICIENT_RESOURCES" },
};

function toEvent(
  q: { created: number; queryId: string; sql: string; shape: Shape; user: string },
  cpu: number,
  memory: number,
  wall: number,
  failure?: string,
  isoDurations = false,
): QueryCompletedEvent {
  const end = q.created + Math.round(wall * 1000);
  const round = (s: number) => Math.round(s * 1000) / 1000;
  // Most lines carry durations as seconds (Jackson's default); some as ISO-8601 strings, which
  // older listeners wrote, so the reader is exercised on both.
  const duration = (s: number) => isoDurations ? `PT${round(s)}S` : round(s);
  // What the scans read: the CPU time spread over the tables the SQL names, so the table
  // catalog learned from these events has sizes that track cost, as real Trino's do.
  const tables = referencedTables(lex(q.sql).tokens, q.shape);
  const inputs = failure === "SYNTAX_ERROR" ? [] : tables.map((name) => {
    const [catalogName, schema, table] = name.split(".");
    const rows = Math.round((cpu * 2e6) / tables.length);
    return { catalogName, schema, table, physicalInputRows: rows, physicalInputBytes: rows * 64 };
  });
  return {
    metadata: {
      queryId: q.queryId,
      query: q.sql,
      queryState: failure ? "FAILED" : "FINISHED",
      tables: [],
    },
    statistics: {
      cpuTime: duration(cpu),
      wallTime: duration(wall),
      peakUserMemoryBytes: memory,
    },
    context: {
      user: q.user,
      source: q.shape.source,
      catalog: q.shape.catalog,
      schema: q.shape.schema,
      clientTags: q.shape.tags ?? [],
      queryType: q.shape.queryType,
      sessionProperties: {},
    },
    ioMetadata: { inputs },
    ...(failure ? { failureInfo: { errorCode: { ...ERROR_CODES[failure], name: failure } } } : {}),
    createTime: new Date(q.created).toISOString(),
    endTime: new Date(end).toISOString(),
  };
}

if (import.meta.main) {
  const out = Deno.args[0] ?? "test/fixtures/query_log_small.jsonl";
  const events = makeFixtureLog();
  await Deno.writeTextFile(out, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  console.log(`wrote ${events.length} events to ${out}`);
}
