"""What real sensors emit (Cilium Hubble flows), turned into flow-anomaly events."""
