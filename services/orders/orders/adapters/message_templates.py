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
        self._templates: dict[str, Template] = {}

    def render(self, kind: str, context: dict[str, Any]) -> RenderedMessage:
        template = self._templates.get(kind)
        if template is None:
            template = self._templates[kind] = self._environment.get_template(f"{kind}.txt.j2")
        # One rendering context for both blocks: a block's own variables (loops, sets) stay in the block.
        values = template.new_context({"shop_name": self._shop_name, **context})
        blocks = template.blocks
        subject = "".join(blocks["subject"](values)).strip()
        body = "".join(blocks["body"](values)).strip() + "\n"
        return RenderedMessage(subject, body)
