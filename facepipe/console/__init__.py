"""The operator's web console (`facepipe console`): live view, unknown faces, people, history, plots.

May import: every layer up to ``ops`` (the console acts through ``facepipe.ops.operator``). Never ``local``,
``bench`` or ``cli``, and no Lambda function ships it.
"""
