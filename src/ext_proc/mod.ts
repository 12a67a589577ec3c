/**
 * Transparent retry on Large through Envoy's ext_proc filter: the gRPC server, its retry decisions and its metrics.
 *
 * @module
 */

export {
  EXT_PROC_PROTO,
  type ExtProcServer,
  type ExtProcServerOptions,
  extProcService,
  loadExtProcPackage,
  PROTO_DIR,
  startExtProcServer,
} from "./server.ts";
export {
  decideRetry,
  isRetryableSql,
  largeRetryHeaders,
  type PublicOrigin,
  type RetryState,
  type RetryVerdict,
  submissionHeaders,
  summarizeTrinoResponse,
  type TrinoResponseSummary,
} from "./retry_policy.ts";
export {
  registerRetryMetrics,
  RETRY_OUTCOMES,
  type RetryMetrics,
  type RetryOutcome,
} from "./retry_metrics.ts";
export {
  DEFAULT_RETRY_TIMEOUT_MS,
  RetryProcessor,
  type RetryProcessorOptions,
  StreamHandler,
} from "./retry_processor.ts";
