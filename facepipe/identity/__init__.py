"""Who a face is: the gallery of enrolled people, matching and the decision per track, recognition of a
clip's frames, enrollment, corrections, student records, the crops people look at.

May import: ``facepipe.core``, ``facepipe.media``, ``facepipe.vision``. Never AWS: the same code runs in the
recognize image, the commands and the bench.
"""
