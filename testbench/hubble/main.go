// Command hubble-flows turns compact flow specs into Hubble records encoded exactly as Cilium
// encodes them, so the chatbot's tests read Hubble's own JSON rather than a hand-written
// imitation of it.
//
// It reads one JSON spec per line (stdin, or the files named as arguments) and writes one
// record per spec to stdout, in the spec's format (or -format):
//
//	exporter        the Hubble exporter's file: observerpb.ExportEvent through encoding/json
//	                (pkg/hubble/exporter: json.NewEncoder(writer).Encode(event))
//	observe-json    `hubble observe -o json` (and `-o jsonpb`): observerpb.GetFlowsResponse
//	                through encoding/json (hubble/pkg/printer, JSONPBOutput)
//	observe-json-legacy
//	                `hubble observe -o json` with HUBBLE_COMPAT=legacy-json-output: the bare
//	                flow.Flow through encoding/json (JSONLegacyOutput)
//
// In all three, encoding/json calls the generated MarshalJSON (protojson with UseProtoNames)
// and then compacts and HTML-escapes the result, exactly as the exporter's and the printer's
// json.Encoder do. See spec.go for the spec fields and flow.go for how a spec becomes a Flow.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	observerpb "github.com/cilium/cilium/api/v1/observer"
)

const (
	formatExporter      = "exporter"
	formatObserveJSON   = "observe-json"
	formatObserveLegacy = "observe-json-legacy"
	maxSpecBytes        = 16 << 20
)

func main() {
	format := flag.String("format", formatExporter,
		"default output format: exporter, observe-json or observe-json-legacy")
	flag.Parse()
	if err := run(*format, flag.Args(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hubble-flows:", err)
		os.Exit(1)
	}
}

func run(format string, files []string, stdin io.Reader, stdout io.Writer) error {
	out := bufio.NewWriterSize(stdout, 1<<16)
	// One encoder for the whole stream, as the exporter keeps one for its file.
	encoder := json.NewEncoder(out)
	index := 0
	emit := func(input io.Reader, name string) error {
		lines := bufio.NewScanner(input)
		lines.Buffer(make([]byte, 0, 1<<16), maxSpecBytes)
		for lines.Scan() {
			if len(lines.Bytes()) == 0 {
				continue
			}
			spec, err := parseSpec(lines.Bytes())
			if err != nil {
				return fmt.Errorf("%s: spec %d: %w", name, index+1, err)
			}
			record, err := buildRecord(spec, index, format)
			if err != nil {
				return fmt.Errorf("%s: spec %d: %w", name, index+1, err)
			}
			if err := encoder.Encode(record); err != nil {
				return fmt.Errorf("%s: spec %d: encoding: %w", name, index+1, err)
			}
			index++
		}
		return lines.Err()
	}
	if len(files) == 0 {
		if err := emit(stdin, "stdin"); err != nil {
			return err
		}
	}
	for _, name := range files {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		err = emit(file, name)
		file.Close()
		if err != nil {
			return err
		}
	}
	return out.Flush()
}

// buildRecord wraps the spec's event in the message the chosen format encodes.
func buildRecord(spec *Spec, index int, defaultFormat string) (any, error) {
	format := spec.Format
	if format == "" {
		format = defaultFormat
	}
	built, err := buildEvent(spec, index)
	if err != nil {
		return nil, err
	}
	switch format {
	case formatExporter:
		event := &observerpb.ExportEvent{NodeName: built.nodeName, Time: built.time}
		switch {
		case built.flow != nil:
			event.ResponseTypes = &observerpb.ExportEvent_Flow{Flow: built.flow}
		case built.lost != nil:
			event.ResponseTypes = &observerpb.ExportEvent_LostEvents{LostEvents: built.lost}
		default:
			event.ResponseTypes = &observerpb.ExportEvent_AgentEvent{AgentEvent: built.agent}
		}
		return event, nil
	case formatObserveJSON:
		response := &observerpb.GetFlowsResponse{NodeName: built.nodeName, Time: built.time}
		switch {
		case built.flow != nil:
			response.ResponseTypes = &observerpb.GetFlowsResponse_Flow{Flow: built.flow}
		case built.lost != nil:
			response.ResponseTypes = &observerpb.GetFlowsResponse_LostEvents{LostEvents: built.lost}
		default:
			return nil, fmt.Errorf("hubble observe does not print agent events in flow output")
		}
		return response, nil
	case formatObserveLegacy:
		if built.flow == nil {
			return nil, fmt.Errorf("observe-json-legacy prints only flows")
		}
		return built.flow, nil
	}
	return nil, fmt.Errorf("unknown format %q", format)
}
