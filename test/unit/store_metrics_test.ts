import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { Store } from "../../src/store/store.ts";
import { registerStoreMetrics } from "../../src/store/store_metrics.ts";

Deno.test("a healthy store exposes trino_router_store_degraded 0", async () => {
  const registry = new Registry();
  registerStoreMetrics(registry, new MemoryStore());
  assert.ok((await registry.metrics()).includes('trino_router_store_degraded{backend="memory"} 0'));
});

Deno.test("a degraded store exposes trino_router_store_degraded 1 and its fallbacks per operation", async () => {
  const degraded = new Proxy(new MemoryStore(), {
    get: (target, name) =>
      name === "health"
        ? () => ({
          backend: "redis",
          state: "degraded",
          circuit: "open",
          fallbacks: { isTemplateHeavy: 7, putDecision: 2 },
        })
        : Reflect.get(target, name),
  }) as Store;
  const registry = new Registry();
  registerStoreMetrics(registry, degraded);
  const text = await registry.metrics();
  assert.ok(text.includes('trino_router_store_degraded{backend="redis"} 1'), text);
  assert.ok(
    text.includes(
      'trino_router_store_fallbacks_total{backend="redis",operation="isTemplateHeavy"} 7',
    ),
  );
  assert.ok(
    text.includes('trino_router_store_fallbacks_total{backend="redis",operation="putDecision"} 2'),
  );
});
