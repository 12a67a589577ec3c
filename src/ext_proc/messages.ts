/**
 * TypeScript shapes of the Envoy ext_proc messages in `proto/`, as `@grpc/proto-loader` decodes and encodes them (`keepCase`, `oneofs`, enums as strings).
 *
 * @module
 */

/** `envoy.config.core.v3.HeaderValue`: Envoy fills `raw_value`, older releases `value`. */
export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Uint8Array;
}

/** `envoy.config.core.v3.HeaderValueOption`. */
export interface HeaderValueOption {
  header: HeaderValue;
  append_action?:
    | "APPEND_IF_EXISTS_OR_ADD"
    | "ADD_IF_ABSENT"
    | "OVERWRITE_IF_EXISTS_OR_ADD"
    | "OVERWRITE_IF_EXISTS";
}

/** `envoy.service.ext_proc.v3.HttpHeaders`. */
export interface HttpHeaders {
  headers?: { headers?: HeaderValue[] };
  end_of_stream?: boolean;
}

/** `envoy.service.ext_proc.v3.HttpBody`. */
export interface HttpBody {
  body?: Uint8Array;
  end_of_stream?: boolean;
}

/** `envoy.service.ext_proc.v3.ProcessingRequest` (the fields the router reads). */
export interface ProcessingRequest {
  request?:
    | "request_headers"
    | "response_headers"
    | "request_body"
    | "response_body"
    | "request_trailers"
    | "response_trailers";
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: unknown;
  response_trailers?: unknown;
  observability_mode?: boolean;
}

/** `envoy.service.ext_proc.v3.HeaderMutation`. */
export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

/** `envoy.service.ext_proc.v3.CommonResponse`. */
export interface CommonResponse {
  status?: "CONTINUE" | "CONTINUE_AND_REPLACE";
  header_mutation?: HeaderMutation;
  body_mutation?: { body?: Uint8Array; clear_body?: boolean };
}

/** `envoy.service.ext_proc.v3.ProcessingResponse` (the fields the router writes). */
export interface ProcessingResponse {
  request_headers?: { response?: CommonResponse };
  response_headers?: { response?: CommonResponse };
  request_body?: { response?: CommonResponse };
  response_body?: { response?: CommonResponse };
  request_trailers?: { header_mutation?: HeaderMutation };
  response_trailers?: { header_mutation?: HeaderMutation };
}

const decoder = new TextDecoder();

/**
 * Flattens an ext_proc header map into lower-case name → value (repeated names joined with
 * `, `), reading `raw_value` when Envoy sent it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headerRecord } from "./messages.ts";
 * const record = headerRecord({
 *   headers: { headers: [{ key: ":path", raw_value: new TextEncoder().encode("/v1/statement") }] },
 * });
 * assert(record[":path"] === "/v1/statement");
 * ```
 */
export function headerRecord(message: HttpHeaders | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const header of message?.headers?.headers ?? []) {
    const value = header.raw_value && header.raw_value.length > 0
      ? decoder.decode(header.raw_value)
      : header.value ?? "";
    const key = header.key.toLowerCase();
    record[key] = key in record ? `${record[key]}, ${value}` : value;
  }
  return record;
}

/**
 * The "carry on unchanged" answer to one ext_proc message (the server must answer each one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { continueResponse } from "./messages.ts";
 * assert("response_body" in continueResponse("response_body"));
 * ```
 */
export function continueResponse(
  kind: NonNullable<ProcessingRequest["request"]>,
  mutation?: HeaderMutation,
): ProcessingResponse {
  if (kind === "request_trailers" || kind === "response_trailers") return { [kind]: {} };
  return { [kind]: { response: { status: "CONTINUE", header_mutation: mutation } } };
}
