/**
 * The "analyst" evaluation: hand-written analytical queries (`test/fixtures/analyst_queries.json`,
 * multi-CTE reporting SQL written for this project, never taken from a benchmark suite) with
 * the labels measured on the real Large cluster (`measure_queries.ts`), routed through the
 * router exactly as a new user's first run would be (no history, no session schema). Reported
 * beside the model, never trained or tuned on: it is the nearest thing in view to the held-out
 * workload the customer measures.
 *
 * ```sh
 * deno run -A training/fixture_eval.ts --model models/<version> [--fixture test/fixtures/analyst_queries.json]
 * ```
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { createRouter } from "../src/routing/router.ts";
import { isLargeScaleTable } from "./baselines.ts";
import { tableReferences } from "../src/features/table_references.ts";
import { lex } from "../src/sql/lexer.ts";
import type { FixtureQuery } from "./measure_queries.ts";
import { loadModel } from "./replay.ts";

/** The default fixture. */
export const ANALYST_FIXTURE = "test/fixtures/analyst_queries.json";

/** One routed (query, scale) pair. */
export interface FixtureDecision {
  readonly name: string;
  readonly scale: string;
  readonly cpuSeconds: number;
  readonly heavy: boolean;
  readonly decision: "light" | "heavy";
  readonly reason: string;
  readonly score: number;
  /** The trivial baseline: the SQL names a table of scale ≥ sf1. */
  readonly schemaRule: boolean;
}

/** Confusion counts of one set of decisions. */
export interface FixtureCounts {
  readonly rows: number;
  readonly heavy: number;
  readonly tp: number;
  readonly fn: number;
  readonly fp: number;
  readonly tn: number;
}

/** What the fixture says about a model. */
export interface FixtureEvaluation {
  readonly fixture: string;
  readonly version: string;
  readonly model: FixtureCounts;
  readonly schemaRule: FixtureCounts;
  /** The model's counts per scale (`tiny`, `sf1`). */
  readonly byScale: Readonly<Record<string, FixtureCounts>>;
  readonly decisions: readonly FixtureDecision[];
}

function counts(rows: readonly { heavy: boolean; predicted: boolean }[]): FixtureCounts {
  let tp = 0, fn = 0, fp = 0, tn = 0;
  for (const r of rows) {
    if (r.heavy) r.predicted ? tp++ : fn++;
    else r.predicted ? fp++ : tn++;
  }
  return { rows: rows.length, heavy: tp + fn, tp, fn, fp, tn };
}

/**
 * Routes every measured (query, scale) pair of a fixture through a model; pairs without a
 * label (not measured, or an unrelated failure) are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateFixture } from "./fixture_eval.ts";
 * const e = await evaluateFixture("heuristic-v1");
 * assert.ok(e.model.rows >= 2 * 12, "every query measured at both scales");
 * assert.equal(e.model.rows, e.decisions.length);
 * ```
 */
export async function evaluateFixture(
  model: string,
  fixture: string = ANALYST_FIXTURE,
): Promise<FixtureEvaluation> {
  const { queries } = JSON.parse(await readFile(fixture, "utf8")) as { queries: FixtureQuery[] };
  const { models, version } = await loadModel(model);
  const decisions: FixtureDecision[] = [];
  try {
    const router = createRouter({ models, clusters: { small: "small", large: "large" } });
    for (const query of queries) {
      for (const [scale, measured] of Object.entries(query.measured ?? {})) {
        if (measured.heavy === null) continue;
        const sqlText = query.sql.replaceAll("{scale}", scale);
        const d = await router.route({ sqlText, user: "analyst-fixture" }, version);
        decisions.push({
          name: query.name,
          scale,
          cpuSeconds: measured.cpuSeconds,
          heavy: measured.heavy,
          decision: d.decision,
          reason: d.reason,
          score: d.modelScore,
          schemaRule: tableReferences(lex(sqlText).tokens, {}).tables.some(isLargeScaleTable),
        });
      }
    }
  } finally {
    await models.close();
  }
  const byScale: Record<string, FixtureCounts> = {};
  for (const scale of [...new Set(decisions.map((d) => d.scale))].sort()) {
    byScale[scale] = counts(
      decisions.filter((d) => d.scale === scale).map((d) => ({
        heavy: d.heavy,
        predicted: d.decision === "heavy",
      })),
    );
  }
  return {
    fixture,
    version,
    model: counts(decisions.map((d) => ({ heavy: d.heavy, predicted: d.decision === "heavy" }))),
    schemaRule: counts(decisions.map((d) => ({ heavy: d.heavy, predicted: d.schemaRule }))),
    byScale,
    decisions,
  };
}

const ratio = (n: number, d: number) => d === 0 ? "n/a" : (n / d).toFixed(3);

/** The evaluation as a report section (markdown). */
export function formatFixtureEvaluation(e: FixtureEvaluation): string {
  const row = (name: string, c: FixtureCounts) =>
    `| ${name} | ${c.rows} | ${c.heavy} | ${ratio(c.tp, c.tp + c.fn)} | ${
      ratio(c.fp, c.fp + c.tn)
    } | ${c.tp} | ${c.fn} | ${c.fp} | ${c.tn} |`;
  const lines = [
    `Hand-written analytical queries (\`${e.fixture}\`), each at \`tiny\` and \`sf1\`, labels ` +
    "measured on the real Large cluster with the training rules; routed as a new user's first " +
    "run. Never trained or tuned on.",
    "",
    "| model | rows | heavy | recall | FPR | TP | FN | FP | TN |",
    "|---|---|---|---|---|---|---|---|---|",
    row(e.version, e.model),
    ...Object.entries(e.byScale).map(([scale, c]) => row(`${e.version} at \`${scale}\``, c)),
    row("schema-rule", e.schemaRule),
    "",
    "| query | scale | CPU-s | label | decision | score |",
    "|---|---|---|---|---|---|",
    ...e.decisions.map((d) =>
      `| ${d.name} | ${d.scale} | ${d.cpuSeconds} | ${d.heavy ? "heavy" : "light"} | ${d.decision}${
        d.reason === "model" ? "" : ` (${d.reason})`
      } | ${d.score.toFixed(4)} |`
    ),
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      fixture: { type: "string", default: ANALYST_FIXTURE },
      json: { type: "boolean", default: false },
    },
  });
  if (!values.model) {
    console.error("usage: fixture_eval.ts --model <version|folder> [--fixture file] [--json]");
    Deno.exit(2);
  }
  const e = await evaluateFixture(values.model, values.fixture);
  console.log(values.json ? JSON.stringify(e, null, 1) : formatFixtureEvaluation(e));
}
