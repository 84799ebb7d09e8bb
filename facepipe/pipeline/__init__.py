"""The pipeline's stages as plain functions (extract, recognize, enrich, and the erase sweep's batch);
``functions/<stage>/app.py`` are thin handlers over them.

May import: the layers below (core to aws). Never ``ops``, ``local``, ``console``, ``bench`` or ``cli``: the
Lambda layer and the recognize image carry only ``core`` to ``pipeline``.
"""
