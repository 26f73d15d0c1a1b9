"""Simulated kube-controller-manager controllers (run on SimCluster's loop)."""
