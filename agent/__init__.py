"""pantau: network monitoring agent with SOP-006 ticket integration."""

from __future__ import annotations

__version__ = "0.1.0"
