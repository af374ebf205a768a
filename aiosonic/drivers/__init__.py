"""Asyncio drivers that run a sans-IO protocol core over a transport."""
