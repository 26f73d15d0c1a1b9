"""Host tuning wizard (the deployment guide's host settings): vm.swappiness,
transparent hugepages, and report-only checks of the GPU software stack."""
