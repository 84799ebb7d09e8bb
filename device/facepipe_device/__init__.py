"""facepipe-device: the camera side of facepipe (capture, durable upload, results display)."""

__version__ = "0.1.0"
