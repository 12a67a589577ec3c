/**
 * Typical analytical queries (≤ 4 KB) for the benchmarks, with varied literals so that every
 * request is a decision-cache miss unless a benchmark repeats one on purpose.
 *
 * @module
 */

import type { RouteInput } from "../src/routing/router.ts";

const TEMPLATES: Array<(n: number) => string> = [
  (n) => `SELECT count(*) FROM hive.logs.events WHERE day = DATE '2025-08-${10 + (n % 18)}'`,
  (n) =>
    `SELECT o.orderkey, sum(l.extendedprice * (1 - l.discount)) AS revenue
     FROM tpch.sf1.orders o JOIN tpch.sf1.lineitem l ON o.orderkey = l.orderkey
     WHERE o.orderdate >= DATE '1995-01-01' AND l.shipmode IN ('AIR', 'MAIL') AND o.custkey > ${n}
     GROUP BY o.orderkey ORDER BY revenue DESC LIMIT ${10 + (n % 90)}`,
  (n) =>
    `WITH recent AS (SELECT custkey, totalprice, row_number() OVER (PARTITION BY custkey ORDER BY orderdate DESC) rn
       FROM tpch.sf1.orders WHERE totalprice > ${n % 5000})
     SELECT c.name, r.totalprice FROM recent r JOIN tpch.sf1.customer c ON c.custkey = r.custkey
     JOIN tpch.sf1.nation n ON n.nationkey = c.nationkey WHERE r.rn = 1 AND n.name LIKE 'A%'`,
  (n) => `SELECT * FROM tpch.tiny.nation WHERE nationkey = ${n % 25}`,
  (n) =>
    `SELECT ss_store_sk, d_year, count(DISTINCT ss_customer_sk) FROM tpcds.sf1.store_sales
     JOIN tpcds.sf1.date_dim ON ss_sold_date_sk = d_date_sk
     WHERE d_year BETWEEN ${1998 + (n % 4)} AND 2002 GROUP BY ss_store_sk, d_year
     UNION ALL SELECT 0, 0, ${n}`,
  (n) =>
    `SELECT ${
      Array.from({ length: 40 }, (_, i) => `col_${i}`).join(", ")
    } FROM warehouse.sales.daily
     WHERE region IN (${Array.from({ length: 60 }, (_, i) => `'r${(i * 7 + n) % 500}'`).join(", ")})
     AND ts > TIMESTAMP '2025-08-01 00:00:00' ORDER BY ts DESC LIMIT 1000`,
];

const USERS = ["etl", "analyst", "bi-service"];
const SOURCES = ["tableau-dashboard", "jupyter", "airflow"];

/**
 * The n-th benchmark request.
 *
 * @example
 * ```ts
 * import { benchRequest } from "./_queries.ts";
 * console.assert(benchRequest(0).sqlText.length <= 4096);
 * ```
 */
export function benchRequest(
  n: number,
): RouteInput & { sessionProperties: Record<string, string> } {
  const hh = String(n % 24).padStart(2, "0");
  return {
    queryId: `20250811_${hh}3456_${String(n).padStart(5, "0")}_bench`,
    user: USERS[n % USERS.length],
    source: SOURCES[n % SOURCES.length],
    sqlText: TEMPLATES[n % TEMPLATES.length](n),
    catalog: "tpch",
    schema: "sf1",
    sessionProperties: { catalog: "tpch", schema: "sf1" },
  };
}

/** Percentile of sorted milliseconds. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
