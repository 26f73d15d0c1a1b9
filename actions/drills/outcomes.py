"""A drill's statuses and the targets its verdicts are measured against
(the deployment guide's promises)."""
COMPLETED, FAILED, ABORTED, INTERRUPTED, NOT_STARTED = "completed", "failed", "aborted", "interrupted", "not-started"
RECOVERY_TARGET_S = 30.0       # a failed node's pods serve again within 30 s
AVAILABILITY_TARGET = 0.9995   # requests succeeded / sent
