"""Sans-IO protocol cores: bytes in, events out. Nothing here imports asyncio, socket or ssl."""
