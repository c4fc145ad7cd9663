"""Writing approved access as native ``networking.k8s.io/v1`` NetworkPolicies, for clusters
without Otterize: pure translation (podset, rules, policy, impact) and the edges that read
selectors from the apiserver (resolve) and write policies to it (cluster) or to a GitOps
directory (directory)."""
