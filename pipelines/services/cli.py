"""``profilake-services <kafka|redis|spark-cluster|all> <start|stop|status|install>`` and
``mlflow-ui``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipelines.config import load_conf
from pipelines.services import kafka, redis_server, spark_cluster

# "all" is what the demo and the tests need; the Spark cluster only `make cluster-demo` does.
CONTROLLERS = {"kafka": kafka, "redis": redis_server}
ON_DEMAND = {"spark-cluster": spark_cluster}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="profilake-services", description=__doc__)
    parser.add_argument("service", choices=[*CONTROLLERS, *ON_DEMAND, "all", "mlflow-ui"])
    parser.add_argument(
        "action", nargs="?", default="status", choices=["start", "stop", "status", "install"]
    )
    parser.add_argument(
        "--env", default=None, help="config environment (default: PROFILAKE_ENV or local)"
    )
    args = parser.parse_args(argv)
    conf = load_conf(args.env)

    if args.service == "mlflow-ui":
        from pipelines.tracking import configure_mlflow, tracking_uri

        configure_mlflow(conf)
        port = str(conf.get("mlflow.ui_port"))
        print(f"MLflow UI on http://127.0.0.1:{port} (store {tracking_uri(conf)})", flush=True)
        os.execvp(
            sys.executable,
            [
                sys.executable,
                "-m",
                "mlflow",
                "ui",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--backend-store-uri",
                tracking_uri(conf),
            ],
        )

    names = list(CONTROLLERS) if args.service == "all" else [args.service]
    ok = True
    for name in names:
        controller = CONTROLLERS.get(name) or ON_DEMAND[name]
        if args.action == "install":
            if hasattr(controller, "install"):
                print(f"{name}: installed in {controller.install(conf)}")
            continue
        result = getattr(controller, args.action)(conf)
        print(json.dumps(result))
        ok &= bool(result["running"]) == (args.action != "stop") or args.action == "status"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
