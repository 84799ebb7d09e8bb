"""The operator's actions on a deployed (or local) stack: people added and removed, unknown faces labelled
or dismissed, matches rejected, a person erased, annotated frames cut from kept clips.

May import: the layers below (core to pipeline). Never ``local``, ``console``, ``bench`` or ``cli``.
"""
