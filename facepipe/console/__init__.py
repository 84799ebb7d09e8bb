"""The operator's web console (`facepipe console`): live view, unknown faces, people, history, plots."""
