"""In-process domain events: an earlier domain announces what happened, later domains
react inside the same transaction (STYLE.md §3: reverse needs go through events).

Handlers are registered when their module is imported and run synchronously, in
registration order, with the publisher's session: their writes commit or roll back
with the change that caused them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]

_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    if handler not in _handlers[name]:
        _handlers[name].append(handler)


def publish(name: str, /, **data: Any) -> None:
    for handler in list(_handlers.get(name, ())):
        handler(**data)
