"""Server-sent events from the platform: the build feed and chat completions."""

from __future__ import annotations

import json
from typing import Any

from aiosonic import HTTPClient, SSEClient


async def build_events(http_client: HTTPClient, url: str) -> list[dict[str, Any]]:
    """Every event of one build's feed, until the server ends it."""
    events = []
    async with SSEClient(http_client).connect(url, reconnect=False) as feed:
        async for event in feed:
            events.append(event)
    return events


async def complete(http_client: HTTPClient, url: str, prompt: str, token: str) -> str:
    """Stream a chat completion (OpenAI style) and join its deltas."""
    sse = SSEClient(http_client)
    feed = await sse.connect(
        url,
        method="POST",
        json={"model": "acme-1", "stream": True, "messages": [{"role": "user", "content": prompt}]},
        headers={"Authorization": f"Bearer {token}"},
        reconnect=False,
    )
    text = ""
    try:
        async for event in feed:
            if event["data"] == "[DONE]":
                break
            text += json.loads(event["data"])["delta"]
    finally:
        await feed.close()
    return text
