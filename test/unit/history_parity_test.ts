/**
 * Train/serve parity of the history features, bit for bit: the training matrix's point-in-time
 * replay of a log, and the online path — each query routed at its submission (decision stored),
 * each completion event handled by the feedback loop when it ends (history counts added to the
 * store), the router reading the store — give identical vectors for every query of the log.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createFeaturizer, featureNames, FIXED_ONLY_SPEC } from "../../src/features/featurizer.ts";
import { createFeedbackLoop } from "../../src/feedback/feedback_loop.ts";
import { eventToQueryInput } from "../../src/labels/query_event.ts";
import { instantMillis } from "../../src/features/context_features.ts";
import { HEURISTIC_MANIFEST } from "../../src/model/heuristic.ts";
import type { ModelManifest } from "../../src/model/manifest.ts";
import { decisionRecordKey } from "../../src/sql/join_key.ts";
import { createRouter, modelInput } from "../../src/routing/router.ts";
import { modelSetFromBundles } from "../../src/model/model_set.ts";
import { queryHistoryKeys } from "../../src/features/history.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { pointInTimeHistory, submissionOrder } from "../../training/history_replay.ts";
import { loadQueryLog } from "../../training/query_log.ts";

const FIXTURE_LOG = new URL("../fixtures/query_log_small.jsonl", import.meta.url).pathname;

/** A model with the fixed features and history (the heuristic's scorer: vectors are compared). */
const SPEC = { ...FIXED_ONLY_SPEC, history: true };
const WITH_HISTORY: ModelManifest = {
  ...HEURISTIC_MANIFEST,
  version: "with-history",
  featureSpec: SPEC,
  features: featureNames(SPEC),
};

const bits = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));

Deno.test("history features: training's replay and the feedback loop + store + router agree bit for bit", async () => {
  const log = await loadQueryLog(FIXTURE_LOG);
  const rows = log.rows;
  const manifest = WITH_HISTORY;
  const featurize = createFeaturizer(SPEC);

  // Offline: what training writes into the matrix.
  const snapshots = pointInTimeHistory(rows);
  const offline = rows.map((row, i) =>
    bits(featurize({ ...eventToQueryInput(row.event), history: snapshots[i] }).vector)
  );

  // Online: decisions stored at submission, events handled as queries end, the router's read.
  const store = new MemoryStore();
  const feedback = createFeedbackLoop({ store, thresholds: log.thresholds, log: () => {} });
  const ends = rows.map((r, i) => ({ i, end: instantMillis(r.event.endTime) }))
    .sort((a, b) => a.end - b.end || a.i - b.i);
  let next = 0;
  const online: number[][] = new Array(rows.length);
  for (const i of submissionOrder(rows)) {
    const created = instantMillis(rows[i].event.createTime);
    while (next < ends.length && ends[next].end < created) {
      const outcome = await feedback.handleEvent(rows[ends[next++].i].event);
      assert.ok(outcome.joined, "every completion joins its decision");
    }
    const input = eventToQueryInput(rows[i].event);
    online[i] = bits(featurize(await modelInput(manifest, input, store)).vector);
    await store.putDecision(decisionRecordKey(input), {
      queryId: input.queryId ?? "",
      decision: "light",
      reason: "model",
      modelVersion: manifest.version,
      modelScore: 0,
      // What the router records: the statement's real kind (the label rule reads it).
      statementKind: rows[i].statementKind,
      templateFingerprint: "",
      targetCluster: "small",
      decidedAt: new Date(created).toISOString(),
    });
  }
  await feedback.close();

  let withTemplateHistory = 0;
  for (let i = 0; i < rows.length; i++) {
    assert.deepEqual(online[i], offline[i], `row ${i} (${rows[i].queryId})`);
    if (snapshots[i].template !== undefined) withTemplateHistory++;
  }
  // The fixture repeats templates: most rows must have read some history, or nothing was tested.
  assert.ok(withTemplateHistory > rows.length / 2, `${withTemplateHistory} rows with history`);
});

Deno.test("the router reads history only for a model with history features, from its store", async () => {
  const models = await modelSetFromBundles([{ manifest: WITH_HISTORY }], "with-history");
  const asked: string[][] = [];
  const reader = {
    readHistory(keys: readonly string[]) {
      asked.push([...keys]);
      return Promise.resolve(keys.map(() => ({ n: 3, h: 3 })));
    },
  };
  const router = createRouter({ models, clusters: { small: "s", large: "l" }, history: reader });
  const input = { sqlText: "SELECT * FROM tpch.tiny.orders", user: "ann" };
  await router.route(input, "with-history");
  const keys = queryHistoryKeys(input);
  assert.deepEqual(asked, [[keys.template, keys.user]]);
  await router.route(input, "heuristic-v1");
  assert.equal(asked.length, 1, "a model without history features reads no history");
  await models.close();
});
