/**
 * The feedback loop: completion events in, live confusion metrics, template-cache marks and the
 * labeled log out.
 *
 * @module
 */

export * from "./confusion.ts";
export * from "./feedback_loop.ts";
export * from "./feedback_metrics.ts";
export { LabeledLog } from "./labeled_log.ts";
