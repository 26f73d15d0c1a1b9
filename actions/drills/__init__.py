"""Disaster-recovery drills (issue 15): pod kill, node drain, node loss, GPU
fault, each with a steady-state hypothesis, continuous probing, journaled
rollbacks that always run, and a report with a verdict per target."""
