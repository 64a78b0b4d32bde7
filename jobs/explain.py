"""What the bot knew: a profile as the API served it at a moment, next to the chatbot replies
logged then (the ``chat_audit`` table).

    profilake-explain --profile p_0123456789abcdef --at 2026-09-01T10:00:00Z
    profilake-explain --profile p_… --at 2026-09-01T10:00:00Z --window-s 300 --json

Reads the Delta tables with delta-rs (no Spark): chatbot_export and chatbot_identifiers at the
versions current then, and chat_audit (docs/serving.md, "What the bot knew"). Exit 2 when the
export holds nothing for that moment, 3 when that history was cleaned up.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.catalog import Catalog
from pipelines.chatbot.bot import ChatBot
from pipelines.config import load_conf, relocated
from pipelines.serving.explain import explain, format_explained
from pipelines.serving.history import BadMoment, ExportHistory, Gone, NotThen, parse_as_of


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-explain", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--root", help="override paths.root (and every path under it)")
    p.add_argument("--profile", required=True, help="profile_id (a merged id follows its merge)")
    p.add_argument("--at", required=True, help="ISO-8601 time with offset, e.g. …T10:00:00Z")
    p.add_argument("--window-s", type=float, default=60.0, help="replies within ± this")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = p.parse_args(argv)
    conf = load_conf(args.env)
    if args.root:
        conf = relocated(conf, args.root)
    catalog = Catalog(conf)
    history = ExportHistory(
        catalog.path("chatbot_export"),
        catalog.path("chatbot_identifiers"),
        int(conf.get("cache.max_redirect_hops")),
    )
    try:
        result = explain(
            history,
            catalog.path("chat_audit"),
            args.profile,
            parse_as_of(args.at),
            args.window_s,
            ChatBot(default_language=str(conf.get("chatbot.default_language"))),
        )
    except BadMoment as exc:
        p.error(str(exc))
    except NotThen as exc:
        print(exc, file=sys.stderr)
        return 2
    except Gone as exc:
        print(exc, file=sys.stderr)
        return 3
    print(json.dumps(result.to_dict(), indent=1) if args.json else format_explained(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
