/**
 * Test helper: a @grpc/grpc-js client playing Envoy's ext_proc filter (same proto, same message sequence) and the Trino protocol documents it carries.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import type { ProcessingRequest, ProcessingResponse } from "../../src/ext_proc/messages.ts";
import { extProcService, loadExtProcPackage } from "../../src/ext_proc/server.ts";

/** Connects a client to an ext_proc server on loopback; over TLS trusting `ca` when given. */
export function extProcClient(port: number, ca?: string): Client {
  const Service = extProcService(loadExtProcPackage());
  const credentials = ca
    ? grpc.credentials.createSsl(Buffer.from(ca))
    : grpc.credentials.createInsecure();
  // The test certificates name 127.0.0.1, but TLS SNI must be a host name.
  const options = ca ? { "grpc.ssl_target_name_override": "localhost" } : {};
  return new Service(`127.0.0.1:${port}`, credentials, options) as unknown as Client;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const HEAVY_SQL = "SELECT l_orderkey, count(*) FROM lineitem CROSS JOIN nation GROUP BY 1";

export type Client = grpc.Client & {
  Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
};

/** One ext_proc stream: sends each message, waits for its answer (as Envoy does). */
export async function exchange(
  client: Client,
  messages: ProcessingRequest[],
): Promise<ProcessingResponse[]> {
  const call = client.Process();
  const answers: ProcessingResponse[] = [];
  const pending: Array<(answer: ProcessingResponse) => void> = [];
  call.on("data", (answer: ProcessingResponse) => pending.shift()?.(answer));
  const ended = new Promise<void>((resolve, reject) => {
    call.on("end", resolve);
    call.on("error", reject);
  });
  for (const message of messages) {
    const answer = new Promise<ProcessingResponse>((resolve) => pending.push(resolve));
    call.write(message);
    answers.push(await answer);
  }
  call.end();
  await ended;
  return answers;
}

function headers(record: Record<string, string>): ProcessingRequest["request_headers"] {
  return {
    headers: {
      headers: Object.entries(record).map(([key, value]) => ({
        key,
        raw_value: encoder.encode(value),
      })),
    },
    end_of_stream: false,
  };
}

/** The POST /v1/statement stream: request headers, SQL body, Small's first response. */
export function submissionStream(sql: string, smallResponse: unknown): ProcessingRequest[] {
  return [
    {
      request: "request_headers",
      request_headers: headers({
        ":method": "POST",
        ":path": "/v1/statement",
        ":authority": "envoy.test:8080",
        ":scheme": "http",
        "x-forwarded-proto": "http",
        "x-trino-user": "alice",
        "x-trino-catalog": "tpch",
        "x-trino-schema": "sf1",
        "x-trino-session": "query_max_memory=1GB",
        "x-trino-routing-group": "small",
        "accept-encoding": "gzip",
        authorization: "Basic c2VjcmV0",
        "x-trino-extra-credential": "s3.secret-key=s3cret",
      }),
    },
    { request: "request_body", request_body: { body: encoder.encode(sql), end_of_stream: true } },
    {
      request: "response_body",
      response_body: { body: encoder.encode(JSON.stringify(smallResponse)), end_of_stream: true },
    },
  ];
}

/** A follow-up stream (GET nextUri on /small/...): only the response body is processed. */
export function followupStream(smallResponse: unknown): ProcessingRequest[] {
  return [{
    request: "response_body",
    response_body: { body: encoder.encode(JSON.stringify(smallResponse)), end_of_stream: true },
  }];
}

export const queued = (id: string) => ({
  id,
  nextUri: `http://envoy.test:8080/small/v1/statement/queued/${id}/y/1`,
  stats: { state: "QUEUED" },
});
export const failed = (
  id: string,
  errorType = "INSUFFICIENT_RESOURCES",
  errorName = "EXCEEDED_LOCAL_MEMORY_LIMIT",
) => ({
  id,
  stats: { state: "FAILED" },
  error: { errorName, errorType, errorCode: 131079 },
});
export const page = (id: string) => ({
  id,
  nextUri: `http://envoy.test:8080/small/v1/statement/executing/${id}/y/2`,
  columns: [{ name: "n", type: "bigint" }],
  data: [[1]],
});

export function bodyOf(answer: ProcessingResponse): string | undefined {
  const body = answer.response_body?.response?.body_mutation?.body;
  return body === undefined ? undefined : decoder.decode(body);
}
