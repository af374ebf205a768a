"""aiosonic: a fast, strict asyncio HTTP client."""
