"""The core every artifact carries: the typed contracts at every boundary, stable error codes, the clip key
protocol with the cloud's errors, the one settings object.

May import: the standard library, pydantic (and pydantic-settings) and ``facepipe_protocol`` only. The enrich
zip has no numpy or OpenCV, so nothing here may need them.
"""
