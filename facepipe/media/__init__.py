"""Pictures and clips as pixels: reading images within limits, decoding clips and choosing sharp frames,
making room-camera clips from footage.

May import: ``facepipe.core``, numpy, OpenCV, Pillow. Never a face, a person or AWS.
"""
