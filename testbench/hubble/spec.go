package main

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Spec is one flow as a test describes it: only what the test cares about. Everything else a
// real Hubble flow carries (uuid, emitter, event type, identity labels, trace observation
// point, TCP flags, Summary...) is filled in by buildEvent the way Cilium fills it in.
// Unknown fields are refused, so a typo in a test fails instead of being ignored.
type Spec struct {
	// Format overrides the -format flag for this line.
	Format string `json:"format"`
	// Record is "flow" (default), "lost_events" or "agent_event".
	Record string `json:"record"`
	// Node is the Hubble node that saw the flow (node_name), default "kind-worker".
	Node string `json:"node"`
	// Time is RFC 3339 with nanoseconds; default a fixed base time plus one millisecond per line.
	Time string `json:"time"`
	UUID string `json:"uuid"`
	// Verdict is a flow.Verdict name, default FORWARDED.
	Verdict string `json:"verdict"`
	// DropReason is a flow.DropReason name (sets drop_reason_desc and the deprecated number).
	DropReason string `json:"drop_reason"`
	// Direction is INGRESS or EGRESS (traffic_direction), default EGRESS.
	Direction string `json:"direction"`
	// Event is the Cilium monitor event: "trace" (default), "drop" (default when the verdict is
	// DROPPED), "policy-verdict" or "l7" (default when http or dns is set).
	Event string `json:"event"`
	// Point is a flow.TraceObservationPoint name for trace events; default TO_OVERLAY for
	// egress, TO_ENDPOINT for ingress.
	Point string `json:"point"`
	// Reply sets is_reply; null or absent leaves it unset ("unknown", as the proto allows).
	Reply *bool `json:"reply"`
	// Protocol is TCP (default), UDP, SCTP, ICMPv4 or ICMPv6.
	Protocol string   `json:"protocol"`
	SrcPort  uint32   `json:"sport"`
	DstPort  uint32   `json:"dport"`
	Src      Endpoint `json:"src"`
	Dst      Endpoint `json:"dst"`
	// SrcNames and DstNames are the DNS names Hubble knows for the addresses.
	SrcNames   []string `json:"src_names"`
	DstNames   []string `json:"dst_names"`
	SrcService *Service `json:"src_service"`
	DstService *Service `json:"dst_service"`
	HTTP       *HTTP    `json:"http"`
	DNS        *DNS     `json:"dns"`
	// Extra is a protojson flow.Flow merged over the built flow (proto.Merge), for fields the
	// compact spec has no name for.
	Extra json.RawMessage `json:"extra"`
}

// Endpoint is one side of a flow.
type Endpoint struct {
	Namespace string `json:"ns"`
	Pod       string `json:"pod"`
	// Workload is what Cilium derives from the pod's controller; only endpoints local to the
	// reporting node carry it (see Remote).
	Workload *Workload `json:"workload"`
	// Labels are the pod's labels; Cilium's identity labels (namespace, service account,
	// cluster) are added, each with its "k8s:" source prefix.
	Labels map[string]string `json:"labels"`
	// RawLabels, when set, replace the generated labels as they are.
	RawLabels []string `json:"raw_labels"`
	Identity  uint32   `json:"identity"`
	IP        string   `json:"ip"`
	Cluster   string   `json:"cluster"`
	// ServiceAccount defaults to "default".
	ServiceAccount string `json:"sa"`
	// Reserved makes this a Cilium reserved entity: host, world, world-ipv4, world-ipv6,
	// health, init, remote-node, kube-apiserver, ingress or unmanaged.
	Reserved string `json:"reserved"`
	// Remote says whether the endpoint lives on another node than the one reporting: Hubble
	// then knows its identity, labels, namespace and pod name, but no endpoint ID and no
	// workloads. Default: the destination is remote for egress, the source for ingress.
	Remote *bool `json:"remote"`
}

type Workload struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type Service struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

type HTTP struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Code   uint32 `json:"code"`
	// Type is a flow.L7FlowType name, default REQUEST (RESPONSE when Code is set).
	Type string `json:"type"`
}

type DNS struct {
	Query string   `json:"query"`
	IPs   []string `json:"ips"`
	// Type is a flow.L7FlowType name, default RESPONSE when IPs are set, else REQUEST.
	Type string `json:"type"`
}

func parseSpec(line []byte) (*Spec, error) {
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.DisallowUnknownFields()
	spec := &Spec{}
	if err := decoder.Decode(spec); err != nil {
		return nil, fmt.Errorf("bad spec: %w", err)
	}
	return spec, nil
}
