"""3-2-1 backup wizard (issue 14): back up the site's sources into every copy
with restic, each copy's run committed by a set snapshot (console/backup/)."""
