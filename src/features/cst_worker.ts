/**
 * The worker side of the cold-parse pool (`cst_pool.ts`): parses templates off the event loop.
 * Message in: `{ template }`; out: its {@linkcode cstFeatures} result.
 *
 * @module
 */

import { cstFeatures } from "./cst_features.ts";

const scope = self as unknown as {
  onmessage: (event: MessageEvent<{ template: string }>) => void;
  postMessage(message: unknown): void;
};
scope.onmessage = (event) => scope.postMessage(cstFeatures(event.data.template));
