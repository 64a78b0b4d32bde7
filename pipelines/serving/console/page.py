"""The console page: plain HTML, CSS and JavaScript kept as files beside this module (no build
step, nothing loaded from another host), put together into one document once."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def console_page() -> str:
    here = files(__package__)
    html = here.joinpath("console.html").read_text(encoding="utf-8")
    css = here.joinpath("console.css").read_text(encoding="utf-8")
    js = here.joinpath("console.js").read_text(encoding="utf-8")
    return html.replace("/*CONSOLE_CSS*/", css).replace("/*CONSOLE_JS*/", js)
