package main

import (
	"crypto/sha256"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Facts from Cilium v1.20 used below (not Cilium's code, which would pull in the agent):
// monitor event types (pkg/monitor/api/types.go), reserved numeric identities
// (pkg/identity/numericidentity.go), identity label keys (pkg/k8s/apis/cilium.io/const.go).
const (
	eventDrop          = 1
	eventTrace         = 4
	eventPolicyVerdict = 5
	eventAccessLog     = 129
	defaultNode        = "kind-worker"
	defaultCluster     = "default"
	emitterVersion     = "1.20.2"
)

var baseTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var reservedIdentities = map[string]uint32{
	"host": 1, "world": 2, "unmanaged": 3, "health": 4, "init": 5, "remote-node": 6,
	"kube-apiserver": 7, "ingress": 8, "world-ipv4": 9, "world-ipv6": 10,
}

// The monitor's trace sub-type for each observation point (bpf/lib/trace.h order).
var traceSubTypes = map[flowpb.TraceObservationPoint]int32{
	flowpb.TraceObservationPoint_TO_ENDPOINT: 0, flowpb.TraceObservationPoint_TO_PROXY: 1,
	flowpb.TraceObservationPoint_TO_HOST: 2, flowpb.TraceObservationPoint_TO_STACK: 3,
	flowpb.TraceObservationPoint_TO_OVERLAY: 4, flowpb.TraceObservationPoint_FROM_ENDPOINT: 5,
	flowpb.TraceObservationPoint_FROM_PROXY: 6, flowpb.TraceObservationPoint_FROM_HOST: 7,
	flowpb.TraceObservationPoint_FROM_STACK: 8, flowpb.TraceObservationPoint_FROM_OVERLAY: 9,
	flowpb.TraceObservationPoint_FROM_NETWORK: 10, flowpb.TraceObservationPoint_TO_NETWORK: 11,
}

type builtEvent struct {
	flow     *flowpb.Flow
	lost     *flowpb.LostEvent
	agent    *flowpb.AgentEvent
	nodeName string
	time     *timestamppb.Timestamp
}

func buildEvent(spec *Spec, index int) (*builtEvent, error) {
	node := orDefault(spec.Node, defaultNode)
	when := baseTime.Add(time.Duration(index) * time.Millisecond)
	if spec.Time != "" {
		parsed, err := time.Parse(time.RFC3339Nano, spec.Time)
		if err != nil {
			return nil, fmt.Errorf("time: %w", err)
		}
		when = parsed
	}
	stamp := timestamppb.New(when)
	built := &builtEvent{nodeName: node, time: stamp}
	switch orDefault(spec.Record, "flow") {
	case "flow":
		flow, err := buildFlow(spec, index, node, stamp)
		if err != nil {
			return nil, err
		}
		built.flow = flow
	case "lost_events":
		built.lost = &flowpb.LostEvent{
			Source:        flowpb.LostEventSource_PERF_EVENT_RING_BUFFER,
			NumEventsLost: 3,
			Cpu:           wrapperspb.Int32(1),
		}
	case "agent_event":
		built.agent = &flowpb.AgentEvent{
			Type: flowpb.AgentEventType_AGENT_STARTED,
			Notification: &flowpb.AgentEvent_AgentStart{
				AgentStart: &flowpb.TimeNotification{Time: stamp},
			},
		}
	default:
		return nil, fmt.Errorf("record %q: want flow, lost_events or agent_event", spec.Record)
	}
	return built, nil
}

func buildFlow(spec *Spec, index int, node string, stamp *timestamppb.Timestamp) (*flowpb.Flow, error) {
	verdict, err := enumValue("verdict", orDefault(spec.Verdict, "FORWARDED"), flowpb.Verdict_value)
	if err != nil {
		return nil, err
	}
	direction, err := enumValue("direction", orDefault(spec.Direction, "EGRESS"),
		flowpb.TrafficDirection_value)
	if err != nil {
		return nil, err
	}
	egress := flowpb.TrafficDirection(direction) == flowpb.TrafficDirection_EGRESS
	flow := &flowpb.Flow{
		Time:             stamp,
		Uuid:             orDefault(spec.UUID, flowUUID(index, node, stamp)),
		Emitter:          &flowpb.Emitter{Name: "Hubble", Version: emitterVersion},
		Verdict:          flowpb.Verdict(verdict),
		NodeName:         node,
		NodeLabels:       []string{"kubernetes.io/arch=amd64", "kubernetes.io/hostname=" + node, "kubernetes.io/os=linux"},
		SourceNames:      spec.SrcNames,
		DestinationNames: spec.DstNames,
		TrafficDirection: flowpb.TrafficDirection(direction),
	}
	if spec.Reply != nil {
		flow.IsReply = wrapperspb.Bool(*spec.Reply)
	}
	reply := spec.Reply != nil && *spec.Reply
	if flow.Source, err = buildEndpoint("src", &spec.Src, !egress); err != nil {
		return nil, err
	}
	if flow.Destination, err = buildEndpoint("dst", &spec.Dst, egress); err != nil {
		return nil, err
	}
	flow.IP, err = buildIP(spec)
	if err != nil {
		return nil, err
	}
	if flow.L4, err = buildL4(spec, index, reply); err != nil {
		return nil, err
	}
	if spec.SrcService != nil {
		flow.SourceService = &flowpb.Service{Name: spec.SrcService.Name, Namespace: spec.SrcService.Namespace}
	}
	if spec.DstService != nil {
		flow.DestinationService = &flowpb.Service{Name: spec.DstService.Name, Namespace: spec.DstService.Namespace}
	}
	if err := setEvent(spec, flow, egress, reply); err != nil {
		return nil, err
	}
	if len(spec.Extra) > 0 {
		extra := &flowpb.Flow{}
		if err := protojson.Unmarshal(spec.Extra, extra); err != nil {
			return nil, fmt.Errorf("extra: %w", err)
		}
		proto.Merge(flow, extra)
	}
	return flow, nil
}

// setEvent fills what depends on the monitor event kind: event type, flow type, observation
// point, drop reason, the L7 record and the (deprecated, still filled) summary.
func setEvent(spec *Spec, flow *flowpb.Flow, egress, reply bool) error {
	event := spec.Event
	switch {
	case event != "":
	case spec.HTTP != nil || spec.DNS != nil:
		event = "l7"
	case flow.Verdict == flowpb.Verdict_DROPPED:
		event = "drop"
	case flow.Verdict == flowpb.Verdict_AUDIT:
		event = "policy-verdict"
	default:
		event = "trace"
	}
	flow.Type = flowpb.FlowType_L3_L4
	flow.Summary = l4Summary(flow.L4)
	if spec.DropReason != "" {
		reason, err := enumValue("drop_reason", spec.DropReason, flowpb.DropReason_value)
		if err != nil {
			return err
		}
		flow.DropReasonDesc = flowpb.DropReason(reason)
		flow.DropReason = uint32(reason)
	}
	switch event {
	case "trace":
		point := "TO_ENDPOINT"
		if egress {
			point = "TO_OVERLAY"
		}
		value, err := enumValue("point", orDefault(spec.Point, point), flowpb.TraceObservationPoint_value)
		if err != nil {
			return err
		}
		flow.TraceObservationPoint = flowpb.TraceObservationPoint(value)
		flow.EventType = &flowpb.CiliumEventType{Type: eventTrace, SubType: traceSubTypes[flow.TraceObservationPoint]}
		flow.TraceReason = flowpb.TraceReason_NEW
		if reply {
			flow.TraceReason = flowpb.TraceReason_REPLY
		}
	case "drop":
		flow.EventType = &flowpb.CiliumEventType{Type: eventDrop, SubType: int32(flow.DropReason)}
	case "policy-verdict":
		flow.EventType = &flowpb.CiliumEventType{Type: eventPolicyVerdict}
	case "l7":
		flow.Type = flowpb.FlowType_L7
		flow.EventType = &flowpb.CiliumEventType{Type: eventAccessLog}
		if err := setL7(spec, flow); err != nil {
			return err
		}
	default:
		return fmt.Errorf("event %q: want trace, drop, policy-verdict or l7", event)
	}
	return nil
}

func setL7(spec *Spec, flow *flowpb.Flow) error {
	switch {
	case spec.HTTP != nil:
		kind := "REQUEST"
		if spec.HTTP.Code != 0 {
			kind = "RESPONSE"
		}
		value, err := enumValue("http.type", orDefault(spec.HTTP.Type, kind), flowpb.L7FlowType_value)
		if err != nil {
			return err
		}
		flow.L7 = &flowpb.Layer7{
			Type:      flowpb.L7FlowType(value),
			LatencyNs: 0,
			Record: &flowpb.Layer7_Http{Http: &flowpb.HTTP{
				Code: spec.HTTP.Code, Method: spec.HTTP.Method, Url: spec.HTTP.URL,
				Protocol: "HTTP/1.1",
				Headers:  []*flowpb.HTTPHeader{{Key: "User-Agent", Value: "curl/8.5.0"}},
			}},
		}
		flow.Summary = fmt.Sprintf("HTTP/1.1 %s %s", spec.HTTP.Method, spec.HTTP.URL)
	case spec.DNS != nil:
		kind := "REQUEST"
		if len(spec.DNS.IPs) > 0 {
			kind = "RESPONSE"
		}
		value, err := enumValue("dns.type", orDefault(spec.DNS.Type, kind), flowpb.L7FlowType_value)
		if err != nil {
			return err
		}
		flow.L7 = &flowpb.Layer7{
			Type: flowpb.L7FlowType(value),
			Record: &flowpb.Layer7_Dns{Dns: &flowpb.DNS{
				Query: spec.DNS.Query, Ips: spec.DNS.IPs, Ttl: 30, ObservationSource: "proxy",
				Qtypes: []string{"A"}, Rrtypes: []string{"A"},
			}},
		}
		flow.Summary = fmt.Sprintf("DNS Query %s A", spec.DNS.Query)
	}
	return nil
}

// buildEndpoint fills an endpoint the way Hubble's endpoint resolver does: local endpoints
// carry their endpoint ID and workloads, remote ones only identity, labels, namespace and pod.
func buildEndpoint(side string, spec *Endpoint, remoteByDefault bool) (*flowpb.Endpoint, error) {
	cluster := orDefault(spec.Cluster, defaultCluster)
	if spec.Reserved != "" {
		identity, ok := reservedIdentities[spec.Reserved]
		if !ok {
			return nil, fmt.Errorf("%s.reserved %q is not a reserved identity", side, spec.Reserved)
		}
		labels := spec.RawLabels
		if labels == nil {
			labels = []string{"reserved:" + spec.Reserved}
		}
		return &flowpb.Endpoint{Identity: orDefaultUint(spec.Identity, identity), Labels: labels}, nil
	}
	if spec.Pod == "" && spec.Namespace == "" && spec.RawLabels == nil {
		return nil, fmt.Errorf("%s: give ns and pod, raw_labels, or reserved", side)
	}
	labels := spec.RawLabels
	if labels == nil {
		labels = identityLabels(spec, cluster)
	}
	remote := remoteByDefault
	if spec.Remote != nil {
		remote = *spec.Remote
	}
	endpoint := &flowpb.Endpoint{
		Identity:    orDefaultUint(spec.Identity, numericIdentity(labels)),
		ClusterName: cluster,
		Namespace:   spec.Namespace,
		Labels:      labels,
		PodName:     spec.Pod,
	}
	if !remote {
		endpoint.ID = endpointID(spec.Namespace + "/" + spec.Pod)
		if spec.Workload != nil {
			endpoint.Workloads = []*flowpb.Workload{{Name: spec.Workload.Name, Kind: spec.Workload.Kind}}
		}
	}
	return endpoint, nil
}

// identityLabels are a pod's security identity labels as Hubble shows them: the pod's own
// labels plus the ones Cilium adds, each prefixed with its source, sorted.
func identityLabels(spec *Endpoint, cluster string) []string {
	labels := []string{
		"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=" + spec.Namespace,
		"k8s:io.cilium.k8s.policy.cluster=" + cluster,
		"k8s:io.cilium.k8s.policy.serviceaccount=" + orDefault(spec.ServiceAccount, "default"),
		"k8s:io.kubernetes.pod.namespace=" + spec.Namespace,
	}
	for key, value := range spec.Labels {
		labels = append(labels, "k8s:"+key+"="+value)
	}
	sort.Strings(labels)
	return labels
}

func buildIP(spec *Spec) (*flowpb.IP, error) {
	source := orDefault(spec.Src.IP, defaultIP(&spec.Src))
	destination := orDefault(spec.Dst.IP, defaultIP(&spec.Dst))
	parsed, err := netip.ParseAddr(source)
	if err != nil {
		return nil, fmt.Errorf("src.ip: %w", err)
	}
	if _, err := netip.ParseAddr(destination); err != nil {
		return nil, fmt.Errorf("dst.ip: %w", err)
	}
	version := flowpb.IPVersion_IPv4
	if parsed.Is6() {
		version = flowpb.IPVersion_IPv6
	}
	return &flowpb.IP{Source: source, Destination: destination, IpVersion: version}, nil
}

// buildL4: without an explicit source port every spec is a new connection (its own
// ephemeral port); the two sightings of one connection share theirs.
func buildL4(spec *Spec, index int, reply bool) (*flowpb.Layer4, error) {
	sport := orDefaultUint(spec.SrcPort, uint32(32768+index%28000))
	dport := orDefaultUint(spec.DstPort, 8080)
	switch orDefault(spec.Protocol, "TCP") {
	case "TCP":
		flags := &flowpb.TCPFlags{SYN: true, ACK: reply}
		if spec.HTTP != nil {
			flags = nil // the proxy's access log carries no packet flags
		}
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_TCP{TCP: &flowpb.TCP{
			SourcePort: sport, DestinationPort: dport, Flags: flags}}}, nil
	case "UDP":
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_UDP{UDP: &flowpb.UDP{
			SourcePort: sport, DestinationPort: dport}}}, nil
	case "SCTP":
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_SCTP{SCTP: &flowpb.SCTP{
			SourcePort: sport, DestinationPort: dport, ChunkType: flowpb.SCTPChunkType_INIT}}}, nil
	case "ICMPv4":
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv4{ICMPv4: &flowpb.ICMPv4{Type: 8}}}, nil
	case "ICMPv6":
		return &flowpb.Layer4{Protocol: &flowpb.Layer4_ICMPv6{ICMPv6: &flowpb.ICMPv6{Type: 128}}}, nil
	}
	return nil, fmt.Errorf("protocol %q: want TCP, UDP, SCTP, ICMPv4 or ICMPv6", spec.Protocol)
}

func l4Summary(l4 *flowpb.Layer4) string {
	switch {
	case l4.GetTCP() != nil:
		var set []string
		if flags := l4.GetTCP().GetFlags(); flags != nil {
			if flags.SYN {
				set = append(set, "SYN")
			}
			if flags.ACK {
				set = append(set, "ACK")
			}
		}
		return "TCP Flags: " + strings.Join(set, ", ")
	case l4.GetUDP() != nil:
		return "UDP"
	case l4.GetSCTP() != nil:
		return "SCTP"
	case l4.GetICMPv4() != nil:
		return "ICMPv4 EchoRequest"
	}
	return "ICMPv6 EchoRequest"
}

func enumValue(field, name string, values map[string]int32) (int32, error) {
	value, ok := values[name]
	if !ok {
		return 0, fmt.Errorf("%s %q is not a name in flow.proto", field, name)
	}
	return value, nil
}

// numericIdentity is a stable cluster-scoped identity (256..65535) for a label set.
func numericIdentity(labels []string) uint32 {
	digest := fnv.New32a()
	digest.Write([]byte(strings.Join(labels, ";")))
	return 256 + digest.Sum32()%(65535-256)
}

// defaultIP: pods get a stable pod-CIDR address from their name, the world a documentation
// address (RFC 5737), nodes a node-network address.
func defaultIP(spec *Endpoint) string {
	digest := fnv.New32a()
	digest.Write([]byte(spec.Namespace + "/" + spec.Pod + "/" + spec.Reserved))
	sum := digest.Sum32()
	switch spec.Reserved {
	case "":
		return fmt.Sprintf("10.244.%d.%d", sum%250, 2+sum/250%250)
	case "world", "world-ipv4":
		return fmt.Sprintf("203.0.113.%d", 1+sum%254)
	case "world-ipv6":
		return fmt.Sprintf("2001:db8::%x", sum%0xffff)
	}
	return fmt.Sprintf("172.18.0.%d", 2+sum%250)
}

func endpointID(key string) uint32 {
	digest := fnv.New32a()
	digest.Write([]byte(key))
	return 1 + digest.Sum32()%4095
}

func flowUUID(index int, node string, stamp *timestamppb.Timestamp) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%d", index, node, stamp.AsTime().UnixNano())))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

func orDefaultUint(value, fallback uint32) uint32 {
	if value == 0 {
		return fallback
	}
	return value
}
