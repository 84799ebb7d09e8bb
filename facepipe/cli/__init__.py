"""The ``facepipe`` command line (``main``), a module per noun, and ``demo`` (``make demo``).

May import: everything. Nothing imports it (``facepipe.__main__`` only).
"""
