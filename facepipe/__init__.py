"""facepipe: real-time face recognition from edge cameras on AWS.

The package holds the domain (video, faces, gallery, records, the result contract), the local stack and
the ``facepipe`` command line. Importing it is cheap: heavy libraries (dlib, OpenCV) load in the modules
that need them.
"""

__version__ = "0.1.0"
