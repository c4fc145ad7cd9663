"""Read-only questions to the cluster the flows come from (pod owners)."""
