"""facecast: speech to a talking face for game engines and live streaming."""

__version__ = "0.1.0"
