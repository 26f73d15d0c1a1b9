"""3-2-1 backup wizard (issue 14): back up the site's sources into every copy
with restic; a copy's run counts once every part of its set is in (console/backup/sets.py)."""
