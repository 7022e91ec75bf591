"""facecast.bridge: the engine bridge (ZeroMQ + msgpack), protocol in PROTOCOL.md."""

from facecast.bridge.client import AsyncClient, BridgeError, Client

__all__ = ["AsyncClient", "BridgeError", "Client"]
