"""GPU telemetry: sources (NVML, nvidia-smi over a Transport), XID events from the
kernel log, and the poller that keeps per-host history for the dashboard.

Every source produces console.telemetry.sample.HostTelemetry and never raises: an
unreachable host, an untrusted key or a missing driver is a state, not a crash.
"""
