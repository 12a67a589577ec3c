/**
 * The capacity and cost planner's arithmetic: places replayed queries on Small and Large (with
 * the CPU misroutes and retries burn), sizes each cluster for its P95 demand under a target
 * utilisation, and prices the symmetric fleet against the split. Pure functions, no I/O.
 *
 * @module
 */

import { confusionCell, type ConfusionCounts } from "../../src/feedback/confusion.ts";
import { type Demand, demandOf, demandWindow, percentile, type QueryLoad } from "./demand.ts";

/** A logged query with its label and the router's decision (from a replay). */
export interface RoutedQuery extends QueryLoad {
  readonly queryId: string;
  /** Heavy by the label rules. */
  readonly heavy: boolean;
  /** The router sent it to Large. */
  readonly predictedHeavy: boolean;
  /** Decided by the model's score (not a write, not the template cache): a threshold moves it. */
  readonly modelDecided: boolean;
  readonly score: number;
  /** It failed for lack of resources (its logged CPU is what it burned before failing). */
  readonly resourceFailure: boolean;
}

/** What a heavy query routed to Small does there. */
export interface SmallLimits {
  /** Small's per-query CPU cap (`query.max-cpu-time`): a heavy query burns at most this. */
  readonly maxCpuSeconds: number;
  /** Small's per-query memory cap: a query needing more fails there. */
  readonly maxMemoryBytes: number;
}

/** The queries each cluster runs once the router decides, and what the mistakes cost. */
export interface Placement {
  readonly small: readonly QueryLoad[];
  readonly large: readonly QueryLoad[];
  /** Named as the live matrix names them (`src/feedback/confusion.ts`). */
  readonly confusion: ConfusionCounts;
  readonly fnr: number | null;
  readonly fpr: number | null;
  /** Heavy queries that failed on Small and ran again on Large (transparent retry). */
  readonly retried: number;
  /** CPU-seconds heavy queries burned on Small (until they failed, or in full). */
  readonly heavyCpuSecondsOnSmall: number;
  /** CPU-seconds of light queries sent to Large. */
  readonly lightCpuSecondsOnLarge: number;
}

/**
 * Where each query runs. `threshold` re-decides the model-decided rows (`score ≥ threshold` is
 * heavy, as the router decides); without it the replayed decisions stand. A heavy query sent to
 * Small that exceeds Small's limits (or failed for resources in the log) burns CPU there up to
 * Small's cap for the matching share of its interval, then runs in full on Large right after
 * (transparent retry); one within the limits completes on Small.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { place } from "./planner.ts";
 * const q = {
 *   queryId: "q", start: 0, end: 10_000, cpuSeconds: 10, peakMemoryBytes: 0, heavy: true,
 *   predictedHeavy: false, modelDecided: true, score: 0.1, resourceFailure: false,
 * };
 * const p = place([q], { maxCpuSeconds: 5, maxMemoryBytes: 1e9 });
 * assert.equal(p.small[0].cpuSeconds, 5); // killed on Small at its 5 s cap...
 * assert.equal(p.large[0].cpuSeconds, 10); // ...and run again, in full, on Large
 * assert.equal(p.retried, 1);
 * ```
 */
export function place(
  queries: readonly RoutedQuery[],
  limits: SmallLimits,
  threshold?: number,
): Placement {
  const small: QueryLoad[] = [];
  const large: QueryLoad[] = [];
  const cells = { truePositive: 0, falseNegative: 0, trueNegative: 0, falsePositive: 0 };
  let retried = 0, danger = 0, waste = 0;
  for (const q of queries) {
    const toLarge = threshold !== undefined && q.modelDecided
      ? !(q.score < threshold)
      : q.predictedHeavy;
    const cell = confusionCell(toLarge ? "heavy" : "light", q.heavy ? "heavy" : "light");
    cells[cell]++;
    if (toLarge) {
      large.push(q);
      if (cell === "falsePositive") waste += q.cpuSeconds;
      continue;
    }
    if (cell === "trueNegative") {
      small.push(q);
      continue;
    }
    const fails = q.resourceFailure || q.cpuSeconds > limits.maxCpuSeconds ||
      q.peakMemoryBytes > limits.maxMemoryBytes;
    if (!fails) {
      small.push(q);
      danger += q.cpuSeconds;
      continue;
    }
    retried++;
    const burned = Math.min(q.cpuSeconds, limits.maxCpuSeconds);
    const share = q.cpuSeconds > 0 ? burned / q.cpuSeconds : 1;
    const onSmallMs = (q.end - q.start) * share;
    small.push({
      start: q.start,
      end: q.start + onSmallMs,
      cpuSeconds: burned,
      peakMemoryBytes: Math.min(q.peakMemoryBytes, limits.maxMemoryBytes),
    });
    danger += burned;
    large.push({ ...q, start: q.start + onSmallMs, end: q.end + onSmallMs });
  }
  const { truePositive: tp, falseNegative: fn, falsePositive: fp, trueNegative: tn } = cells;
  return {
    small,
    large,
    confusion: cells,
    fnr: tp + fn === 0 ? null : fn / (tp + fn),
    fpr: fp + tn === 0 ? null : fp / (fp + tn),
    retried,
    heavyCpuSecondsOnSmall: danger,
    lightCpuSecondsOnLarge: waste,
  };
}

/** Node shape, prices and targets of a plan. */
export interface SizingOptions {
  /** Cores per node available to Trino (design 7.3: 105 of a c6a.32xlarge's 128 vCPUs). */
  readonly nodeCores: number;
  /** Price of one node per period (design 7.3: $229.46 per week). */
  readonly nodeCost: number;
  /** Highest share of Small's cores its P95 demand may use. */
  readonly targetUtil: number;
  /** The same for Large (batch tolerates a hotter cluster); default `targetUtil`. */
  readonly largeUtil?: number;
  /** Memory per node; when set, a cluster also needs enough nodes for its peak memory. */
  readonly nodeMemoryBytes?: number;
  /** Cores of the router's own pods (priced as a share of a node). */
  readonly routerCores: number;
}

/**
 * Nodes that keep `p95Cores` under `util` of the cluster's cores (and hold `peakMemoryBytes`
 * when the node memory is given); at least one node for any demand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodesFor } from "./planner.ts";
 * assert.equal(nodesFor(2500, 0, 105, 0.7), 35); // 2500 / 73.5 = 34.01 → 35
 * assert.equal(nodesFor(0, 0, 105, 0.7), 0);
 * ```
 */
export function nodesFor(
  p95Cores: number,
  peakMemoryBytes: number,
  nodeCores: number,
  util: number,
  nodeMemoryBytes?: number,
): number {
  if (!(nodeCores > 0)) throw new RangeError(`node cores must be positive, got ${nodeCores}`);
  if (!(util > 0 && util <= 1)) throw new RangeError(`utilisation must be in (0, 1], got ${util}`);
  // The epsilon keeps 73.5 cores / 73.5 usable from becoming 2 nodes through float noise.
  const byCpu = Math.ceil(p95Cores / (nodeCores * util) - 1e-9);
  const byMemory = nodeMemoryBytes ? Math.ceil(peakMemoryBytes / nodeMemoryBytes - 1e-9) : 0;
  return Math.max(byCpu, byMemory, p95Cores > 0 || peakMemoryBytes > 0 ? 1 : 0);
}

/** One cluster's demand and recommended size. */
export interface ClusterPlan {
  readonly demand: Demand;
  /** Cores the sizing used (P95 of the demand series, plus any misroute headroom). */
  readonly sizingCores: number;
  readonly nodes: number;
  /** Share of the recommended cores the sizing cores use. */
  readonly utilAtSizing: number;
  readonly cost: number;
}

function clusterPlan(
  demand: Demand,
  sizingCores: number,
  util: number,
  options: SizingOptions,
): ClusterPlan {
  const nodes = nodesFor(
    sizingCores,
    demand.peakMemoryBytes,
    options.nodeCores,
    util,
    options.nodeMemoryBytes,
  );
  return {
    demand,
    sizingCores,
    nodes,
    utilAtSizing: nodes === 0 ? 0 : sizingCores / (nodes * options.nodeCores),
    cost: nodes * options.nodeCost,
  };
}

/** Options of {@linkcode planCapacity}. */
export interface PlanOptions extends SizingOptions {
  readonly bucketMs: number;
  readonly small: SmallLimits;
  /**
   * FNR to provision Small for; when above the replay's measured FNR, that share of every heavy
   * query's capped footprint is added to Small's demand. Default: the measured FNR.
   */
  readonly assumedFnr?: number;
  /** Today's fleet size; without it "now" is the symmetric fleet right-sized at `targetUtil`. */
  readonly currentNodes?: number;
  /** Re-decide model-decided rows at this threshold instead of the replayed decisions. */
  readonly threshold?: number;
}

/** A symmetric fleet against the split, priced. */
export interface CapacityPlan {
  readonly window: { from: number; to: number };
  readonly placement: Omit<Placement, "small" | "large">;
  /** Every query on one cluster sized like the split's clusters (no misroutes, no retries). */
  readonly symmetric: ClusterPlan;
  readonly small: ClusterPlan & { readonly headroomCores: number };
  readonly large: ClusterPlan;
  readonly routerCost: number;
  /** What the fleet costs today (given, or the symmetric fleet right-sized). */
  readonly now: {
    readonly nodes: number;
    readonly cost: number;
    readonly basis: "given" | "symmetric";
    /** Mean demand ÷ today's cores. */
    readonly meanUtil: number;
  };
  readonly routedCost: number;
  /** 1 − routed ÷ now. */
  readonly ctsReduction: number;
}

/**
 * Plans Small and Large for replayed queries and prices them against the symmetric fleet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planCapacity } from "./planner.ts";
 * const light = {
 *   queryId: "l", start: 0, end: 60_000, cpuSeconds: 60, peakMemoryBytes: 0, heavy: false,
 *   predictedHeavy: false, modelDecided: true, score: 0, resourceFailure: false,
 * };
 * const heavy = { ...light, queryId: "h", cpuSeconds: 180, heavy: true, predictedHeavy: true };
 * const plan = planCapacity([light, heavy], {
 *   bucketMs: 60_000, nodeCores: 1, nodeCost: 10, targetUtil: 1, routerCores: 0,
 *   small: { maxCpuSeconds: 100, maxMemoryBytes: 1e9 },
 * });
 * assert.equal(plan.small.nodes, 1);
 * assert.equal(plan.large.nodes, 3);
 * assert.equal(plan.symmetric.nodes, 4);
 * ```
 */
export function planCapacity(
  queries: readonly RoutedQuery[],
  options: PlanOptions,
): CapacityPlan {
  const { small: smallLoads, large: largeLoads, ...placement } = place(
    queries,
    options.small,
    options.threshold,
  );
  // Retries shift a query later; the window covers them so no CPU falls outside it.
  const window = demandWindow([...queries, ...largeLoads], options.bucketMs);
  const all = demandOf(queries, options.bucketMs, window);
  const small = demandOf(smallLoads, options.bucketMs, window);
  const large = demandOf(largeLoads, options.bucketMs, window);

  const extraFnr = Math.max(0, (options.assumedFnr ?? 0) - (placement.fnr ?? 0));
  const headroom = demandOf(
    queries.filter((q) => q.heavy && q.modelDecided).map((q) => ({
      ...q,
      cpuSeconds: extraFnr * Math.min(q.cpuSeconds, options.small.maxCpuSeconds),
    })),
    options.bucketMs,
    window,
  );
  const smallSizing = percentile(
    small.coresPerBucket.map((c, i) => c + headroom.coresPerBucket[i]),
    0.95,
  );
  const largeUtil = options.largeUtil ?? options.targetUtil;
  const symmetric = clusterPlan(all, all.p95Cores, options.targetUtil, options);
  const smallPlan = {
    ...clusterPlan(small, smallSizing, options.targetUtil, options),
    headroomCores: smallSizing - small.p95Cores,
  };
  const largePlan = clusterPlan(large, large.p95Cores, largeUtil, options);
  const routerCost = routerCostOf(options);
  const nowNodes = options.currentNodes ?? symmetric.nodes;
  const now = {
    nodes: nowNodes,
    cost: nowNodes * options.nodeCost,
    basis: options.currentNodes === undefined ? "symmetric" as const : "given" as const,
    meanUtil: nowNodes === 0 ? 0 : all.meanCores / (nowNodes * options.nodeCores),
  };
  const routedCost = smallPlan.cost + largePlan.cost + routerCost;
  return {
    window,
    placement,
    symmetric,
    small: smallPlan,
    large: largePlan,
    routerCost,
    now,
    routedCost,
    ctsReduction: now.cost === 0 ? 0 : 1 - routedCost / now.cost,
  };
}

/** The router's pods priced as a share of a node. */
export function routerCostOf(options: SizingOptions): number {
  return (options.routerCores / options.nodeCores) * options.nodeCost;
}

/** One row of the threshold sensitivity table. */
export interface SensitivityRow {
  readonly threshold: number;
  readonly fnr: number | null;
  readonly fpr: number | null;
  readonly smallNodes: number;
  readonly largeNodes: number;
  readonly routedCost: number;
  readonly ctsReduction: number;
}

/**
 * How cost moves with the threshold: the plan re-run with the model-decided rows re-decided at
 * each threshold (FNR and FPR move the other way from each other).
 */
export function thresholdSensitivity(
  queries: readonly RoutedQuery[],
  options: PlanOptions,
  thresholds: readonly number[],
): SensitivityRow[] {
  return thresholds.map((threshold) => {
    const plan = planCapacity(queries, { ...options, threshold });
    return {
      threshold,
      fnr: plan.placement.fnr,
      fpr: plan.placement.fpr,
      smallNodes: plan.small.nodes,
      largeNodes: plan.large.nodes,
      routedCost: plan.routedCost,
      ctsReduction: plan.ctsReduction,
    };
  });
}

/** Fleet-level figures, when there is no query log (e.g. the design document's section 7.3). */
export interface FleetFigures {
  readonly currentNodes: number;
  /** Mean utilisation of today's cores. */
  readonly currentUtil: number;
  /** Share of all CPU that light queries use. */
  readonly lightCpuShare: number;
  /** Light queries' peak cores; default their mean (`lightCpuShare` of the demand). */
  readonly lightPeakCores?: number;
  /** FNR to provision Small for: that share of heavy CPU is assumed to land on Small in full. */
  readonly assumedFnr: number;
  /** Share of light CPU sent to Large. */
  readonly assumedFpr: number;
}

/** The plan of {@linkcode planFromFigures}: cores each cluster is sized for and the prices. */
export interface FiguresPlan {
  readonly meanCores: number;
  readonly smallCores: number;
  readonly largeCores: number;
  readonly smallNodes: number;
  readonly largeNodes: number;
  readonly routerCost: number;
  readonly nowCost: number;
  readonly routedCost: number;
  readonly ctsReduction: number;
}

/**
 * Sizes Small and Large from fleet-level figures with the same rule as a log-based plan. Only
 * a mean utilisation is known, so it stands in for the P95 demand of Large; Small is sized for
 * the light peak plus the misrouted heavy share.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { planFromFigures } from "./planner.ts";
 * const p = planFromFigures(
 *   { currentNodes: 10, currentUtil: 0.5, lightCpuShare: 0.1, assumedFnr: 0, assumedFpr: 0 },
 *   { nodeCores: 10, nodeCost: 1, targetUtil: 0.5, routerCores: 0 },
 * );
 * assert.equal(p.meanCores, 50);
 * assert.equal(p.smallNodes, 1); // 5 light cores at 50 % of 10-core nodes
 * assert.equal(p.largeNodes, 9); // 45 heavy cores
 * ```
 */
export function planFromFigures(figures: FleetFigures, options: SizingOptions): FiguresPlan {
  const meanCores = figures.currentNodes * options.nodeCores * figures.currentUtil;
  const lightMean = figures.lightCpuShare * meanCores;
  const heavyMean = meanCores - lightMean;
  const smallCores = (figures.lightPeakCores ?? lightMean) * (1 - figures.assumedFpr) +
    figures.assumedFnr * heavyMean;
  // A misrouted heavy query fails on Small and runs again on Large: Large keeps all heavy CPU.
  const largeCores = heavyMean + figures.assumedFpr * lightMean;
  const smallNodes = nodesFor(smallCores, 0, options.nodeCores, options.targetUtil);
  const largeNodes = nodesFor(
    largeCores,
    0,
    options.nodeCores,
    options.largeUtil ?? options.targetUtil,
  );
  const routerCost = routerCostOf(options);
  const nowCost = figures.currentNodes * options.nodeCost;
  const routedCost = (smallNodes + largeNodes) * options.nodeCost + routerCost;
  return {
    meanCores,
    smallCores,
    largeCores,
    smallNodes,
    largeNodes,
    routerCost,
    nowCost,
    routedCost,
    ctsReduction: 1 - routedCost / nowCost,
  };
}
