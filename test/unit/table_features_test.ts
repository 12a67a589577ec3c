/**
 * Tables resolved from the SQL's own qualified names, the table catalog learned from completion
 * events, and the size features built on both: the session schema never decides for a query
 * that names its tables in full.
 *
 * @module
 */

import assert from "node:assert/strict";
import { appForModels } from "./_fixtures.ts";
import {
  createFeaturizer,
  FIXED_FEATURE_NAMES as FIXED_NAMES,
  FIXED_ONLY_SPEC,
} from "../../src/features/featurizer.ts";
import { TableCatalogBuilder, tableScansOfEvent } from "../../src/features/table_catalog.ts";
import {
  MAX_REFERENCES,
  MAX_SCANS_PER_REFERENCE,
  tableReferences,
} from "../../src/features/table_references.ts";
import type { QueryCompletedEvent } from "../../src/labels/query_event.ts";
import { loadModelSet } from "../../src/model/model_set.ts";
import { directoryModelSource } from "../../src/model/model_source.ts";
import { extAuthzApi } from "../../src/server/ext_authz_api.ts";
import { lex } from "../../src/sql/lexer.ts";

const refs = (sql: string, catalog?: string, schema?: string) =>
  tableReferences(lex(sql).tokens, { catalog, schema });

Deno.test("qualified names resolve to themselves; the session fills only what the SQL leaves out", () => {
  const sql = "SELECT * FROM tpch.sf1.lineitem l JOIN orders o ON l.orderkey = o.orderkey " +
    "JOIN tiny.nation n ON true";
  assert.deepEqual(refs(sql, "tpch", "tiny").references, [
    "tpch.sf1.lineitem",
    "tpch.tiny.orders",
    "tpch.tiny.nation",
  ]);
  assert.deepEqual(refs(sql, "tpch", "sf1").references, [
    "tpch.sf1.lineitem",
    "tpch.sf1.orders",
    "tpch.tiny.nation",
  ]);
  assert.deepEqual(
    refs(sql, "tpcds", "sf1").tables,
    [
      "tpch.sf1.lineitem",
      "tpcds.sf1.orders",
      "tpcds.tiny.nation",
    ].sort(),
  );
  assert.deepEqual(refs('SELECT 1 FROM "TPCH"."SF1"."Orders"').tables, ["tpch.sf1.orders"]);
});

Deno.test("CTE names are not tables; reading a CTE again counts as reuse", () => {
  const r = refs(
    "WITH big AS (SELECT * FROM lineitem), s(k) AS (SELECT 1) " +
      "SELECT * FROM big a JOIN big b ON a.x = b.x, big c, s",
    "tpch",
    "sf1",
  );
  assert.deepEqual(r.references, ["tpch.sf1.lineitem"]);
  assert.equal(r.cteExtraReads, 2);
  // Trino inlines a CTE at every read: lineitem is scanned three times.
  assert.deepEqual(r.scans, [3]);
});

Deno.test("a table inside a CTE is scanned once per inlined read, nested reuse multiplying", () => {
  const r = refs(
    "WITH a AS (SELECT * FROM orders), b AS (SELECT * FROM a JOIN lineitem ON true) " +
      "SELECT * FROM b x JOIN b y ON true JOIN a z ON true JOIN nation ON true",
    "tpch",
    "tiny",
  );
  assert.deepEqual(r.references, ["tpch.tiny.orders", "tpch.tiny.lineitem", "tpch.tiny.nation"]);
  // a: once in the main query + once per read of b (2) = 3; b: 2; nation: 1.
  assert.deepEqual(r.scans, [3, 2, 1]);
  const nested = refs(
    "WITH a AS (SELECT * FROM (WITH b AS (SELECT * FROM part) SELECT * FROM b, b) c) " +
      "SELECT * FROM a UNION ALL SELECT * FROM a",
  );
  assert.deepEqual(nested.scans, [4]);
  // A recursive CTE reads itself: each read (its own included) counts once, never forever.
  assert.deepEqual(
    refs(
      "WITH RECURSIVE r(n) AS (SELECT 1 FROM region UNION ALL SELECT n + 1 FROM r) " +
        "SELECT * FROM r",
    ).scans,
    [2],
  );
  const featurize = createFeaturizer(CATALOG_SPEC);
  const index = (name: string) => FIXED_NAMES.indexOf(name);
  const once = featurize({ sqlText: "SELECT * FROM tpch.sf1.lineitem" }).vector;
  const thrice = featurize({
    sqlText: "WITH l AS (SELECT * FROM tpch.sf1.lineitem) SELECT * FROM l, l x, l y",
  }).vector;
  assert.equal(thrice[index("table_scans")], 3);
  assert.equal(thrice[index("large_table_scans")], 3);
  assert.ok(
    Math.abs(thrice[index("scan_rows_log")] - once[index("scan_rows_log")] - Math.log10(3)) <
      1e-3,
  );
});

Deno.test("FROM lists, EXTRACT/SUBSTRING and IS DISTINCT FROM are read right", () => {
  const r = refs(
    "SELECT extract(year FROM o_orderdate), substring(c FROM 2) FROM orders, customer, " +
      "(SELECT * FROM nation) n WHERE a IS DISTINCT FROM b GROUP BY 1, 2",
    "tpch",
    "tiny",
  );
  assert.deepEqual(r.references, ["tpch.tiny.orders", "tpch.tiny.customer", "tpch.tiny.nation"]);
  assert.deepEqual(refs("SHOW TABLES FROM tpch.sf1").references, []);
});

const scanEvent = (inputs: object[]): QueryCompletedEvent => ({
  metadata: { queryId: "q" },
  statistics: {},
  context: {},
  ioMetadata: { inputs },
});

Deno.test("the catalog keeps each table's largest scan, whatever the order events come in", () => {
  const events = [
    scanEvent([{ catalogName: "tpch", schema: "sf1", table: "orders", physicalInputRows: 10 }]),
    scanEvent([{
      catalogName: "tpch",
      schema: "sf1",
      table: "orders",
      physicalInputRows: 1_500_000,
      physicalInputBytes: 7,
    }, { catalogName: "tpch", schema: "tiny", table: "nation", physicalInputRows: 25 }]),
    scanEvent([{ catalogName: "tpch", table: "nameless" }, null as unknown as object]),
  ];
  const forward = new TableCatalogBuilder();
  const backward = new TableCatalogBuilder();
  for (const e of events) forward.addEvent(e);
  for (const e of [...events].reverse()) backward.addEvent(e);
  assert.deepEqual(forward.build(), {
    tables: ["tpch.sf1.orders", "tpch.tiny.nation"],
    rows: [1_500_000, 25],
    bytes: [7, 0],
  });
  assert.deepEqual(backward.build(), forward.build());
  assert.deepEqual(tableScansOfEvent(scanEvent([{ physicalInputRows: -5 }])), []);
});

const CATALOG_SPEC = {
  ...FIXED_ONLY_SPEC,
  tableCatalog: {
    tables: ["tpch.sf1.lineitem", "tpch.sf1.orders", "tpch.tiny.lineitem", "tpch.tiny.orders"],
    rows: [6_001_215, 1_500_000, 60_175, 15_000],
    bytes: [0, 0, 0, 0],
  },
};

Deno.test("a connector's canonical schema name (tpcds sf1.0) is keyed by the name SQL uses (sf1)", () => {
  const event: QueryCompletedEvent = {
    metadata: {
      queryId: "q",
      tables: [
        { catalog: "tpcds", schema: "sf1", table: "item" },
        { catalog: "tpcds", schema: "sf1", table: "web_sales" },
        { catalog: "tpcds", schema: "tiny", table: "web_sales" },
      ],
    },
    statistics: {},
    context: {},
    ioMetadata: {
      inputs: [
        { catalogName: "tpcds", schema: "sf1.0", table: "item", physicalInputRows: 18_000 },
        { catalogName: "tpcds", schema: "sf1.0", table: "web_sales", physicalInputRows: 719_384 },
      ],
    },
  };
  assert.deepEqual(tableScansOfEvent(event).map((s) => s.table), [
    "tpcds.sf1.item",
    // Two schemas named for web_sales: the input keeps its own.
    "tpcds.sf1.0.web_sales",
  ]);
});

Deno.test("size features read the catalog: sf1 tables weigh more than tiny ones, unknown ones are counted", () => {
  const featurize = createFeaturizer(CATALOG_SPEC);
  const names = ["rows_max_log", "large_join_log", "sort_no_limit_rows_log", "tables_unknown"];
  const at = (sql: string, schema: string) => featurize({ sqlText: sql, catalog: "tpch", schema });
  const sql = "SELECT * FROM lineitem l JOIN orders o ON l.orderkey = o.orderkey ORDER BY 1";
  const big = at(sql, "sf1");
  const small = at(sql, "tiny");
  const unknown = at(sql, "sf100");
  const index = (name: string) => FIXED_NAMES.indexOf(name);
  for (const name of names.slice(0, 3)) {
    assert.ok(big.vector[index(name)] > small.vector[index(name)], name);
  }
  assert.equal(big.vector[index("tables_unknown")], 0);
  assert.equal(unknown.vector[index("tables_unknown")], 2);
});

Deno.test("the same SQL naming tpch.sf1.lineitem gives the same vector under session schema sf1 or tiny", () => {
  const featurize = createFeaturizer(CATALOG_SPEC);
  const sql = "SELECT l.returnflag, sum(l.extendedprice) FROM tpch.sf1.lineitem l GROUP BY 1";
  const a = featurize({ sqlText: sql, catalog: "tpch", schema: "sf1", user: "u" });
  const b = featurize({ sqlText: sql, catalog: "tpch", schema: "tiny", user: "u" });
  assert.deepEqual(a.vector, b.vector);
});

Deno.test("the bundled default model decides a query naming tpch.sf1.lineitem the same with X-Trino-Schema sf1 or tiny", async () => {
  const models = await loadModelSet(directoryModelSource("models"));
  try {
    assert.notEqual(models.defaultVersion, "heuristic-v1", "a trained model is bundled");
    const app = appForModels(models, [extAuthzApi]);
    const answer = async (sql: string, schema: string) => {
      const response = await app.fetch(
        new Request("http://router/ext_authz/v1/statement", {
          method: "POST",
          headers: { "X-Trino-User": "alice", "X-Trino-Catalog": "tpch", "X-Trino-Schema": schema },
          body: sql,
        }),
      );
      await response.body?.cancel();
      return {
        group: response.headers.get("x-trino-routing-group"),
        score: response.headers.get("x-trino-router-score"),
      };
    };
    for (
      const sql of [
        "SELECT count(*) FROM tpch.sf1.lineitem",
        "SELECT l.orderkey, sum(l.quantity) FROM tpch.sf1.lineitem l GROUP BY 1 ORDER BY 2 DESC",
      ]
    ) {
      const underSf1 = await answer(sql, "sf1");
      const underTiny = await answer(sql, "tiny");
      assert.deepEqual(underTiny, underSf1, sql);
      assert.equal(underSf1.group, "large", `${sql} reads 6M rows at sf1: heavy`);
    }
  } finally {
    await models.close();
  }
});

Deno.test("hostile table lists stay linear: unclosed CTE column lists, thousands of FROM items", () => {
  for (
    const sql of [
      "WITH " + ", a (".repeat(5000),
      "WITH " + ", a (".repeat(5000) + ")".repeat(5000),
      "SELECT * FROM " + "a, ".repeat(10_000),
    ]
  ) {
    // Counts, not time: the walk must not revisit tokens (quadratic input gave 1 s before).
    const r = refs(sql);
    assert.ok(r.references.length <= MAX_REFERENCES);
  }
  assert.equal(refs("SELECT * FROM " + "a, ".repeat(10_000)).references.length, MAX_REFERENCES);
  // Deeply nested CTE reuse: multiplicity is capped, every reference still resolved.
  const deep = "WITH c0 AS (SELECT * FROM t)" +
    Array.from({ length: 300 }, (_, k) => `, c${k + 1} AS (SELECT * FROM c${k}, c${k} x)`)
      .join("") +
    " SELECT * FROM c300";
  const r = refs(deep);
  assert.deepEqual(r.references, ["..t"]);
  assert.ok(r.scans[0] >= 1 && r.scans[0] <= MAX_SCANS_PER_REFERENCE);
});
