/**
 * Bearer-token authentication for every endpoint that changes router state: Trino's completion
 * events (`/v1/events/*`) and the admin endpoints. One shared token, `ROUTER_ADMIN_TOKEN`; an
 * unset token disables the protected endpoints instead of leaving them open.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

/** The environment variable that holds the admin token (named in the 403 answer). */
export const ADMIN_TOKEN_ENV = "ROUTER_ADMIN_TOKEN";

// Comparing fixed-size digests keeps the comparison constant-time and independent of the
// presented token's length (timingSafeEqual itself requires equal lengths).
const digest = (value: string): Uint8Array => createHash("sha256").update(value).digest();

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/**
 * Hono middleware that admits only requests carrying `Authorization: Bearer <token>`.
 *
 * - `token` unset or empty: every request is answered 403
 *   `{"error": "<method> <path> is disabled: set ROUTER_ADMIN_TOKEN"}`, so a forgotten token
 *   never means an open endpoint;
 * - header missing, malformed or with another token: 401 `{"error": "…"}` with
 *   `WWW-Authenticate: Bearer`.
 *
 * Apply it before body parsing so an anonymous caller's body is never read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { requireAdmin } from "./admin_auth.ts";
 * const app = new Hono().post("/admin/x", requireAdmin("s3cret"), (c) => c.json({ ok: true }));
 * assert.equal((await app.request("/admin/x", { method: "POST" })).status, 401);
 * const ok = await app.request("/admin/x", {
 *   method: "POST",
 *   headers: { authorization: "Bearer s3cret" },
 * });
 * assert.equal(ok.status, 200);
 * const disabled = new Hono().post("/admin/x", requireAdmin(undefined), (c) => c.text("no"));
 * assert.equal((await disabled.request("/admin/x", { method: "POST" })).status, 403);
 * ```
 */
export function requireAdmin(token: string | undefined): MiddlewareHandler {
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    if (expected === undefined) {
      return c.json(
        { error: `${c.req.method} ${c.req.path} is disabled: set ${ADMIN_TOKEN_ENV}` },
        403,
      );
    }
    const presented = bearerToken(c.req.header("authorization"));
    if (presented === undefined) {
      c.header("WWW-Authenticate", "Bearer");
      return c.json({ error: "missing Authorization: Bearer <admin token>" }, 401);
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      c.header("WWW-Authenticate", "Bearer");
      return c.json({ error: "invalid admin token" }, 401);
    }
    await next();
  };
}
