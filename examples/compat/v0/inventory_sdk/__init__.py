"""Inventory SDK: an async client for the Inventory service, built on aiosonic 0.2x."""

from inventory_sdk.client import InventoryClient, InventoryError, InventoryUnavailable

__all__ = ["InventoryClient", "InventoryError", "InventoryUnavailable"]
