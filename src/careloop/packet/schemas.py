"""The packet is answered as a PDF; its SHA-256 travels in a header."""

from __future__ import annotations

PACKET_HASH_HEADER = "X-Packet-SHA256"
