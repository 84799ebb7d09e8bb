"""`facepipe bench`: a package whose modules match the report's sections (see :mod:`.report`), and the
real-video dev set (:mod:`.devset`) its accuracy sections and the tests use.

May import: every layer up to ``local``. Never ``console`` or ``cli``.
"""

from facepipe.bench.command import register

__all__ = ["register"]
