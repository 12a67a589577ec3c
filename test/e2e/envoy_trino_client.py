"""Runs one query through Envoy with the real Trino Python client; prints one JSON line.

    python envoy_trino_client.py <envoy-port> run|cancel <sql> [header=value ...]

`run` fetches every row; `cancel` fetches the first row, then cancels (DELETE of nextUri).
Output: {"queryId": ..., "rows": <count>, "first": <first row>, "error": <message or null>}.
"""

import json
import sys

import trino


def main() -> None:
    port, mode, sql, *header_args = sys.argv[1:]
    headers = dict(arg.split("=", 1) for arg in header_args)
    connection = trino.dbapi.connect(
        host="127.0.0.1",
        port=int(port),
        user="e2e",
        source="envoy-e2e",
        catalog="tpch",
        schema="tiny",
        http_scheme="http",
        http_headers=headers,
    )
    cursor = connection.cursor()
    result = {"queryId": None, "rows": 0, "first": None, "error": None}
    try:
        cursor.execute(sql)
        if mode == "cancel":
            result["first"] = cursor.fetchone()
            result["queryId"] = cursor.query_id
            cursor.cancel()
        else:
            rows = cursor.fetchall()
            result["rows"] = len(rows)
            result["first"] = rows[0] if rows else None
            result["queryId"] = cursor.query_id
    except Exception as error:  # noqa: BLE001 - reported to the test, which decides
        result["queryId"] = cursor.query_id
        result["error"] = f"{type(error).__name__}: {error}"
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
