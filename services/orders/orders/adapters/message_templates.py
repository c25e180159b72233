"""Customer messages rendered from the Jinja2 templates in orders/templates (one file per message kind)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


class MessageTemplates:
    """Each template defines a `subject` block and a `body` block."""

    def __init__(self, shop_name: str = "Our shop", directory: Path = TEMPLATES) -> None:
        self._environment = Environment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,  # a missing value is a bug to see, not a blank in a customer's mail
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # the templates ship with the code: no file check per message
        )
        self._shop_name = shop_name
        # Each kind's template with what every message of it sees besides its own context: the template's globals
        # and the shop's name, merged once (jinja2's `new_context` merges them again at each rendering otherwise,
        # walking the globals' ChainMap: a third of a short message's rendering).
        self._templates: dict[str, tuple[Template, dict[str, Any]]] = {}

    def render(self, kind: str, context: dict[str, Any]) -> RenderedMessage:
        known = self._templates.get(kind)
        if known is None:
            template = self._environment.get_template(f"{kind}.txt.j2")
            known = self._templates[kind] = (template, {**template.globals, "shop_name": self._shop_name})
        template, common = known
        # One rendering context for both blocks: a block's own variables (loops, sets) stay in the block. Shared:
        # the dict given is the context's own (a new one at each rendering), not copied again.
        values = template.new_context({**common, **context}, shared=True)
        blocks = template.blocks
        subject = "".join(blocks["subject"](values)).strip()
        body = "".join(blocks["body"](values)).strip() + "\n"
        return RenderedMessage(subject, body)
