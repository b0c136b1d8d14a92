"""Shared OpenAPI fragments for routes that parse their own JSON bodies."""

from __future__ import annotations

from typing import Any

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid bearer token", **PROBLEM},
    403: {"description": "Your role may not do this", **PROBLEM},
    422: {"description": "Invalid parameters or fields, each named", **PROBLEM},
}

BODY: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON, duplicate keys or nesting too deep", **PROBLEM},
    413: {"description": "Body too large", **PROBLEM},
    415: {"description": "Body is not application/json", **PROBLEM},
}


def json_body(
    model: type[Any], example: dict[str, Any] | None = None, *, required: bool = True
) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body by its model's schema."""
    media: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": required, "content": {"application/json": media}}}
