"""Serve the read API with uvicorn (uvloop and httptools when installed).

    profilake-serve-api --env local --port 8080
    PROFILAKE_API_KEYS=k1,k2 python -m jobs.serve_api --workers 2

API keys come from PROFILAKE_API_KEYS or the ``api.keys_file`` secrets file; without one the
API refuses to start. Host and port default to ``api.host`` / ``api.port``.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipelines.config import load_conf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-serve-api", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    if args.env:
        os.environ["PROFILAKE_ENV"] = args.env  # the factory loads conf in each worker
    conf = load_conf(args.env)
    import uvicorn

    from pipelines.serving.api import load_api_keys

    load_api_keys(conf)  # fail here, readably, rather than in every worker
    uvicorn.run(
        "pipelines.serving.api:app_from_env",
        factory=True,
        host=args.host or str(conf.get("api.host")),
        port=args.port or int(conf.get("api.port")),
        workers=args.workers,
        log_level=str(conf.get("api.log_level")),
        access_log=False,
        # Nothing reads the client's address (no access log, no per-client rule), so the
        # X-Forwarded-* rewrite would be work on every request for nothing.
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
