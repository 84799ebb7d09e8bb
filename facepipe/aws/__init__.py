"""Every adapter to an AWS service, named for what it keeps: the clients, the bucket (clips, gallery,
photos), the students table, the device registry, sightings, the unknown faces' store.

May import: boto3 and the layers below (core, media, vision, identity). ``sightings`` and ``unknowns`` run in
the enrich zip, which has no numpy: they import only ``facepipe.core`` and each other.
"""
