"""`facepipe bench`: a package whose modules match the report's sections (see :mod:`.report`)."""

from facepipe.bench.command import register

__all__ = ["register"]
