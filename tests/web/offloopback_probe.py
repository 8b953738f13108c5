"""Run inside a network namespace of the test's own (see test_api_security): serve on a
non-loopback address there and report the status codes a client there gets, as JSON."""

from __future__ import annotations

import json
import sys

from tests.web.api_server import serving

ADDRESS = "10.77.0.1"  # added to the namespace's own loopback device by the test
TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def main(db: str, metrics_public: bool) -> None:
    codes: dict[str, int] = {}
    with serving(db, host=ADDRESS, token=TOKEN, metrics_public=metrics_public) as api:
        client = api.client
        codes["healthz"] = client.get("/healthz").status_code
        codes["status"] = client.get("/api/status").status_code
        codes["page"] = client.get("/").status_code
        codes["status_bearer"] = client.get("/api/status", headers=BEARER).status_code
        codes["metrics"] = client.get("/metrics").status_code
        codes["metrics_bearer"] = client.get("/metrics", headers=BEARER).status_code
    print(json.dumps(codes))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] == "public")
