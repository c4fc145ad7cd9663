"""Writing approved access as Otterize ClientIntents: pure document rules, and the sinks
(Kubernetes apiserver, GitOps directory) that read, merge and write one object per workload."""
