"""The model-load wizard: from weights on the hosts to warm pods serving
(preflight, manifests, server-side apply, rollout, compiled warmup, warm-label
gate, rollback). Registered as wizard "model-load" in actions.plan.WIZARDS."""
