"""Faces as geometry and numbers: detection, landmarks and aligned chips, each face's quality, the 128-d
encoder and the CNN face detector (dlib's networks read in plain Python, run by ONNX Runtime) and their
converter.

May import: ``facepipe.core``, ``facepipe.media``, numpy, OpenCV, dlib/face_recognition, onnx/onnxruntime.
Never who a face is (``facepipe.identity``) or AWS.
"""
