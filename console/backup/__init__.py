"""Backups with restic (issue 14): restic driven through the Transport of the
host where the data is, SHA-256 manifests, restore drills and the 3-2-1 matrix.
The wizard's steps are in actions/backup/."""
