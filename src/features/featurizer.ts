/**
 * The featurizer: the single implementation of "query + context → feature vector", used by the
 * router online and by the training pipeline offline. Its vector layout is a contract named
 * feature by feature in the model manifest, versioned by {@linkcode FEATURE_SCHEMA_VERSION}.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { lex, type LexResult } from "../sql/lexer.ts";
import {
  normalizedTokens,
  parseTemplate,
  templateFingerprint,
  templateOfWords,
} from "../sql/normalize.ts";
import { STATEMENT_KINDS, type StatementKind, statementKind } from "../sql/statement_kind.ts";
import {
  CST_FEATURE_NAMES,
  cstFeatures,
  type CstResult,
  DEFAULT_PARSE_GUARD,
  type ParseOutcome,
  unparsed,
} from "./cst_features.ts";
import { type CstCache, templateCstCache } from "./cst_cache.ts";
import {
  CATEGORY_NAMES,
  type CategoryName,
  type QueryContext,
  queryTime,
  TIME_FEATURE_NAMES,
} from "./context_features.ts";
import { estimateJoins } from "./join_estimate.ts";
import { SIZE_FEATURE_NAMES, sizeFeatures } from "./size_features.ts";
import {
  HISTORY_FEATURE_NAMES,
  historyFeatures,
  type HistorySnapshot,
  snapshotKey,
} from "./history.ts";
import { EMPTY_TABLE_CATALOG, type TableCatalog, tableSizeLookup } from "./table_catalog.ts";
import { tableReferences } from "./table_references.ts";
import { decisionJoinKey } from "../sql/join_key.ts";
import { createTfidfVectorizer, type TfidfSpec } from "./tfidf.ts";
import { TOKEN_FEATURE_NAMES, tokenFeatures } from "./token_features.ts";

/**
 * Version of the vector layout rules. Bump it whenever a feature is added, removed, reordered
 * or computed differently: models trained on another version are refused at load.
 */
export const FEATURE_SCHEMA_VERSION = 7;

/** Fixed (vocabulary-independent) features, in vector order. */
export const FIXED_FEATURE_NAMES: readonly string[] = [
  ...TOKEN_FEATURE_NAMES,
  ...CST_FEATURE_NAMES,
  ...TIME_FEATURE_NAMES,
  ...STATEMENT_KINDS.map((kind) => `statement_${kind}`),
  "lex_truncated",
  ...SIZE_FEATURE_NAMES,
];

/**
 * Features a query's cost never falls with (more rows, another join, another sort): training
 * holds the trees monotone in them, so a family never seen in training is not scored light for
 * a quirk of the families that were, and beyond the trained range a score can only rise (which
 * is why the novelty rule need not watch them).
 */
export const MONOTONE_INCREASING_FEATURES: ReadonlySet<string> = new Set([
  "kw_join",
  "kw_cross_join",
  "kw_outer_join",
  "kw_group_by",
  "kw_order_by",
  "kw_over",
  "kw_distinct",
  "kw_union",
  "kw_intersect_except",
  "shuffle_risk",
  "cst_join_count",
  "cst_window_count",
  "cst_distinct_count",
  "cst_order_by_count",
  "cst_group_by_count",
  "cst_set_op_count",
  // More SELECTs, CTEs and nesting never make a query cheaper. Monotone, they need no novelty
  // watch: a long multi-CTE analytical query beyond the trained counts (the random generator
  // writes at most one WITH) scores at least as heavy as the largest one seen, instead of going
  // to Large as unfamiliar for its length alone. (Monotone subquery and depth counts too cost
  // template-disjoint FPR: see the model report.)
  "kw_select",
  "cst_cte_count",
  "max_paren_depth",
  // Every size feature but the count of unknown tables, which the novelty rule reads instead.
  ...SIZE_FEATURE_NAMES.filter((name) => name !== "tables_unknown"),
]);

/**
 * Token features that measure how much text a query has rather than what it costs to run:
 * length, literal and function counts, boolean connectives. A model trained on one author's SQL
 * reads them as that author's style (a long report is not a slow one), so they form their own
 * group (`lexical`) that training can leave out (`--drop-groups lexical`).
 */
export const LEXICAL_FEATURES: ReadonlySet<string> = new Set([
  "sql_length",
  "token_count",
  "kw_and",
  "kw_where",
  "kw_case",
  "kw_between",
  "string_literal_count",
  "number_literal_count",
  "function_call_count",
  "eq_literal_count",
  "inequality_count",
]);

/** The size features the join estimate (`join_estimate.ts`) computes: group `joins`. */
export const JOIN_FEATURES: ReadonlySet<string> = new Set([
  "expression_joins",
  "key_joins",
  "fanout_joins",
  "est_intermediate_log",
]);

/**
 * Feature groups, for ablations (`training/train.py --drop-groups`) and reports: `token`,
 * `lexical` (the token features of text size, {@linkcode LEXICAL_FEATURES}), `cst`, `time`,
 * `statement`, `size` (fixed), `joins` (the size features of the join estimate,
 * {@linkcode JOIN_FEATURES}), `history` (when the spec asks for it), `identity` (category
 * one-hots), `tfidf`.
 */
export type FeatureGroup =
  | "token"
  | "lexical"
  | "joins"
  | "cst"
  | "time"
  | "statement"
  | "size"
  | "history"
  | "identity"
  | "tfidf";

/**
 * The group of a feature name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureGroup } from "./featurizer.ts";
 * assert.equal(featureGroup("cst_join_count"), "cst");
 * assert.equal(featureGroup("user=alice"), "identity");
 * assert.equal(featureGroup("sql_length"), "lexical");
 * assert.equal(featureGroup("fanout_joins"), "joins");
 * ```
 */
export function featureGroup(name: string): FeatureGroup {
  if (name.startsWith("tfidf:")) return "tfidf";
  if (name.includes("=")) return "identity";
  if ((CST_FEATURE_NAMES as readonly string[]).includes(name)) return "cst";
  if ((TIME_FEATURE_NAMES as readonly string[]).includes(name)) return "time";
  if (JOIN_FEATURES.has(name)) return "joins";
  if ((SIZE_FEATURE_NAMES as readonly string[]).includes(name)) return "size";
  if ((HISTORY_FEATURE_NAMES as readonly string[]).includes(name)) return "history";
  if (LEXICAL_FEATURES.has(name)) return "lexical";
  if ((TOKEN_FEATURE_NAMES as readonly string[]).includes(name)) return "token";
  return "statement";
}

/** The learned part of the layout: category vocabularies and TF-IDF, fitted on training data. */
export interface FeatureSpec {
  /** The featurizer schema the spec was fitted for (`FEATURE_SCHEMA_VERSION`). */
  readonly schemaVersion: number;
  /** Known values per categorical field; each becomes a one-hot feature `field=value`. */
  readonly categories: Readonly<Record<CategoryName, readonly string[]>>;
  /** The TF-IDF vocabulary and weights of the SQL's words. */
  readonly tfidf: TfidfSpec;
  /** Table sizes the size features read: the snapshot fitted on the training rows. */
  readonly tableCatalog: TableCatalog;
  /**
   * Whether the layout holds the history features (`history.ts`), read from
   * `QueryInput.history`; absent = no (older bundles).
   */
  readonly history?: boolean;
}

/** A spec with no learned vocabulary: the fixed features only (what the heuristic needs). */
export const FIXED_ONLY_SPEC: FeatureSpec = {
  schemaVersion: FEATURE_SCHEMA_VERSION,
  categories: { user: [], source: [], catalog: [], schema: [], table: [], client_tag: [] },
  tfidf: { vocabulary: [], idf: [] },
  tableCatalog: EMPTY_TABLE_CATALOG,
};

/** The input of the featurizer: SQL text plus context. */
export interface QueryInput extends QueryContext {
  /** The SQL text as the client sent it. */
  readonly sqlText: string;
  /**
   * What earlier runs of the query's template and user cost, as read from the shared store
   * (or replayed point-in-time by training); only read when the spec has history features.
   */
  readonly history?: HistorySnapshot;
}

/** What the featurizer learned about a query, beyond the vector itself. */
export interface Featurized {
  /** The model's input, in `featureNames(spec)` order. */
  readonly vector: Float32Array;
  /** The statement's kind (`select`, `insert`, ...). */
  readonly statementKind: StatementKind;
  /** Whether the CST parser saw the query and, if not, why. */
  readonly parseOutcome: ParseOutcome;
  /** Fingerprint of the literal-free template (the template cache's key). */
  readonly templateFingerprint: string;
}

/**
 * Computes a cold template's CST features elsewhere (a worker pool), resolving `undefined`
 * when it cannot within the routing budget.
 */
export type ColdParse = (parseTemplate: string) => Promise<CstResult | undefined>;

/**
 * Turns a query into its feature vector; never throws for any string input. Called directly it
 * parses a cold template inline (training, tests); `withColdParse` hands the parse to a
 * {@linkcode ColdParse} instead, so the event loop never parses. Both give the same vector,
 * except when the cold parse misses its budget (`over-budget`, token features only).
 */
export type Featurizer = ((input: QueryInput) => Featurized) & {
  /** Featurizes with the cold parse handed to `coldParse`. */
  readonly withColdParse: (
    input: QueryInput,
    coldParse: ColdParse,
  ) => Featurized | Promise<Featurized>;
  /**
   * The key of exactly what the featurizer reads of an input (the SQL text and the context it
   * uses, time reduced to its features): equal keys give equal vectors, so a decision cache keyed
   * by it cannot leak across contexts, whatever field is added later.
   */
  readonly inputKey: (input: QueryInput) => string;
};

/** What the featurizer reads of a query's context, and nothing else (see `inputKey`). */
interface ContextReads {
  readonly user?: string;
  readonly source?: string;
  readonly catalog?: string;
  readonly schema?: string;
  readonly clientTags: readonly string[];
  readonly time: { hour_of_day: number; day_of_week: number };
  /** The history snapshot, as its stable text (`snapshotKey`). */
  readonly history: string;
}

/** One read per input object: the key, the vector and the one-hots all ask for it. */
const contextReads = new WeakMap<QueryInput, ContextReads>();

function readContext(input: QueryInput): ContextReads {
  let reads = contextReads.get(input);
  if (reads === undefined) {
    reads = {
      user: input.user,
      source: input.source,
      catalog: input.catalog,
      schema: input.schema,
      clientTags: input.clientTags ?? [],
      time: queryTime(input),
      history: snapshotKey(input.history),
    };
    contextReads.set(input, reads);
  }
  return reads;
}

/**
 * The categorical values of one query, field by field: what the one-hots look up, and what
 * training counts to fit their vocabularies (one rule, so the two cannot drift apart).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { categoryValues } from "./featurizer.ts";
 * const values = categoryValues({ sqlText: "SELECT 1", user: "etl", clientTags: ["a", "a"] }, []);
 * assert.deepEqual(values.user, ["etl"]);
 * assert.deepEqual(values.client_tag, ["a"]);
 * ```
 */
export function categoryValues(
  input: QueryInput,
  tables: readonly string[],
): Record<CategoryName, readonly (string | undefined)[]> {
  const context = readContext(input);
  return {
    user: [context.user],
    source: [context.source],
    catalog: [context.catalog],
    schema: [context.schema],
    table: tables,
    client_tag: [...new Set(context.clientTags)],
  };
}

/** One key per input object: a request's key is asked for more than once. */
const inputKeys = new WeakMap<QueryInput, string>();

/** Longest tags/time/history part kept as is in a key; longer (caller-controlled tags) is digested. */
const MAX_PLAIN_KEY_PART = 256;

function inputKey(input: QueryInput): string {
  let key = inputKeys.get(input);
  if (key === undefined) {
    // The history snapshot is read too (models with history features): a decision cached for
    // one snapshot is never served for another.
    const { clientTags, time, history } = readContext(input);
    const rest = JSON.stringify([clientTags, time, history]);
    // The join key digests the SQL with user, source, catalog and schema: the one SHA-256 of
    // the SQL a request costs, shared with its decision record (same input object, memoised).
    key = decisionJoinKey(typeof input.sqlText === "string" ? input : { ...input, sqlText: "" }) +
      "|" +
      (rest.length <= MAX_PLAIN_KEY_PART
        ? rest
        : createHash("sha256").update(rest).digest("base64"));
    inputKeys.set(input, key);
  }
  return key;
}

/**
 * Feature names in vector order for a spec: this list is written to, and checked against,
 * every model manifest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureNames, FIXED_ONLY_SPEC } from "./featurizer.ts";
 * const names = featureNames(FIXED_ONLY_SPEC);
 * assert(names[0] === "sql_length");
 * ```
 */
export function featureNames(spec: FeatureSpec): string[] {
  return [
    ...FIXED_FEATURE_NAMES,
    ...(spec.history ? HISTORY_FEATURE_NAMES : []),
    ...CATEGORY_NAMES.flatMap((field) => spec.categories[field].map((v) => `${field}=${v}`)),
    ...spec.tfidf.vocabulary.map((gram) => `tfidf:${gram}`),
  ];
}

/** Options for {@linkcode createFeaturizer}. */
export interface FeaturizerOptions {
  /** Where CST results are cached by parse template; defaults to the process's shared cache. */
  readonly cstCache?: CstCache;
}

/** What is known of a query before its CST features: everything but the parse. */
interface Prepared {
  readonly sql: string;
  readonly lexed: LexResult;
  readonly kind: StatementKind;
  /** Normalised tokens, for the template and TF-IDF alike. */
  readonly words: readonly string[];
  readonly fingerprint: string;
  /** What the CST features are a function of (see `parseTemplate`). */
  readonly parseTemplate: string;
  /** Known without a parse: cached, or refused by the guard before any parse. */
  readonly cst: CstResult | undefined;
}

/**
 * Compiles a feature spec into a featurizer. Everything that can be resolved once (vocabulary
 * maps, one-hot offsets) is resolved here; a call only reads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeaturizer, FIXED_ONLY_SPEC } from "./featurizer.ts";
 * const featurize = createFeaturizer(FIXED_ONLY_SPEC);
 * const f = featurize({ sqlText: "INSERT INTO t SELECT * FROM s" });
 * assert(f.statementKind === "write" && f.vector[0] === 29);
 * ```
 */
export function createFeaturizer(spec: FeatureSpec, options: FeaturizerOptions = {}): Featurizer {
  const cstCache = options.cstCache ?? templateCstCache;
  const historyCount = spec.history ? HISTORY_FEATURE_NAMES.length : 0;
  const fixedCount = FIXED_FEATURE_NAMES.length + historyCount;
  const categoryOffsets = new Map<CategoryName, Map<string, number>>();
  let offset = fixedCount;
  for (const field of CATEGORY_NAMES) {
    categoryOffsets.set(field, new Map(spec.categories[field].map((v, i) => [v, offset + i])));
    offset += spec.categories[field].length;
  }
  const tfidfOffset = offset;
  const width = tfidfOffset + spec.tfidf.vocabulary.length;
  const vectorizeTfidf = createTfidfVectorizer(spec.tfidf);
  const sizeOf = tableSizeLookup(spec.tableCatalog);

  const setCategory = (vector: Float32Array, field: CategoryName, value: string | undefined) => {
    const index = value === undefined ? undefined : categoryOffsets.get(field)!.get(value);
    if (index !== undefined) vector[index] = 1;
  };

  const prepare = (input: QueryInput): Prepared => {
    const sql = typeof input.sqlText === "string" ? input.sqlText : "";
    const lexed = lex(sql);
    const words = normalizedTokens(lexed.tokens);
    const fingerprint = templateFingerprint(templateOfWords(words));
    // A cut token stream has no complete template to parse; a template's nesting is the
    // query's (literals go, parentheses stay), so the depth guard needs no second look.
    const refused = lexed.truncated
      ? unparsed("too-large")
      : lexed.maxParenDepth > DEFAULT_PARSE_GUARD.maxParenDepth
      ? unparsed("too-deep")
      : undefined;
    const parsed = refused ? "" : parseTemplate(lexed.tokens);
    const cst = refused ?? cstCache.get(parsed);
    return {
      sql,
      lexed,
      kind: statementKind(lexed.tokens),
      words,
      fingerprint,
      parseTemplate: parsed,
      cst,
    };
  };

  const assemble = (input: QueryInput, p: Prepared, cst: CstResult): Featurized => {
    const { lexed } = p;
    const context = readContext(input);
    const tokenStats = tokenFeatures(p.sql, lexed);
    const time = context.time;
    const refs = tableReferences(lexed.tokens, context);
    const joins = estimateJoins(lexed.tokens, context, sizeOf);
    const size = sizeFeatures(refs, tokenStats, joins, sizeOf);

    const vector = new Float32Array(width);
    let i = 0;
    for (const name of TOKEN_FEATURE_NAMES) vector[i++] = tokenStats[name];
    for (const name of CST_FEATURE_NAMES) vector[i++] = cst.features[name];
    for (const name of TIME_FEATURE_NAMES) vector[i++] = time[name];
    for (const k of STATEMENT_KINDS) vector[i++] = k === p.kind ? 1 : 0;
    vector[i++] = lexed.truncated ? 1 : 0;
    for (const name of SIZE_FEATURE_NAMES) vector[i++] = size[name];
    if (historyCount > 0) {
      const history = historyFeatures(input.history);
      for (const name of HISTORY_FEATURE_NAMES) vector[i++] = history[name];
    }

    const values = categoryValues(input, refs.tables);
    for (const field of CATEGORY_NAMES) {
      for (const value of values[field]) setCategory(vector, field, value);
    }

    if (spec.tfidf.vocabulary.length > 0) {
      vectorizeTfidf(p.words, vector, tfidfOffset);
    }
    return {
      vector,
      statementKind: p.kind,
      parseOutcome: cst.outcome,
      templateFingerprint: p.fingerprint,
    };
  };

  const featurize = (input: QueryInput): Featurized => {
    const p = prepare(input);
    let cst = p.cst;
    if (cst === undefined) {
      cst = cstFeatures(p.parseTemplate);
      cstCache.set(p.parseTemplate, cst);
    }
    return assemble(input, p, cst);
  };
  const withColdParse = (input: QueryInput, coldParse: ColdParse) => {
    const p = prepare(input);
    if (p.cst !== undefined) return assemble(input, p, p.cst);
    return coldParse(p.parseTemplate).then((cst) =>
      assemble(input, p, cst ?? unparsed("over-budget"))
    );
  };
  return Object.assign(featurize, { withColdParse, inputKey });
}

/**
 * A featurizer that hands every vector it produces, on either path, to `observe` (drift
 * monitoring) before returning it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFeaturizer, FIXED_ONLY_SPEC, observedFeaturizer } from "./featurizer.ts";
 * const seen: number[] = [];
 * const featurize = observedFeaturizer(createFeaturizer(FIXED_ONLY_SPEC), (f) => seen.push(f.vector[0]));
 * featurize({ sqlText: "SELECT 1" });
 * assert.deepEqual(seen, [8]);
 * ```
 */
export function observedFeaturizer(
  featurize: Featurizer,
  observe: (featurized: Featurized) => void,
): Featurizer {
  const seen = (featurized: Featurized) => {
    observe(featurized);
    return featurized;
  };
  return Object.assign((input: QueryInput) => seen(featurize(input)), {
    withColdParse: (input: QueryInput, coldParse: ColdParse) => {
      const result = featurize.withColdParse(input, coldParse);
      return result instanceof Promise ? result.then(seen) : seen(result);
    },
    inputKey: featurize.inputKey,
  });
}
