"""Talk to the reference chatbot as a customer, through the read API.

    profilake-chatbot --customer-id C0000001 "hi, where is my order?"
    profilake-chatbot --id-type email --id-value anna@example.org "my cart"
    PROFILAKE_API_KEY=... profilake-chatbot --api-url http://127.0.0.1:8080 --customer-id C2 "hi"

The API URL and key default to ``chatbot.api_url`` and ``chatbot.api_key`` (PROFILAKE_API_KEY).
Prints the reply, then one line saying why (intent, language, actions, profile version).
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.config import load_conf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-chatbot", description=__doc__.split("\n")[0])
    p.add_argument("message")
    p.add_argument("--env")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id")
    who.add_argument("--id-value")
    p.add_argument("--id-type", default="customer_id")
    p.add_argument("--api-url")
    p.add_argument("--api-key")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    conf = load_conf(args.env)
    from pipelines.chatbot.bot import ApiClient, ChatBot, converse

    key = args.api_key or str(conf.get("chatbot.api_key") or "")
    if not key:
        print("no API key: pass --api-key or set PROFILAKE_API_KEY", file=sys.stderr)
        return 2
    api = ApiClient.connect(args.api_url or str(conf.get("chatbot.api_url")), key)
    id_type, value = (
        ("customer_id", args.customer_id) if args.customer_id else (args.id_type, args.id_value)
    )
    reply = converse(
        api, ChatBot(str(conf.get("chatbot.default_language"))), id_type, value, args.message
    )
    if args.json:
        print(json.dumps(reply.as_dict(), indent=1))
    else:
        print(reply.text)
        print(
            f"  [intent={reply.intent} language={reply.language} personalized={reply.personalized}"
            f" handover={reply.handover} actions={','.join(reply.actions) or '-'}"
            f" profile={reply.profile_id} v{reply.profile_version}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
