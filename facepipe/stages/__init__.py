"""The pipeline's stages as plain functions; ``functions/<stage>/app.py`` are thin handlers over them."""
