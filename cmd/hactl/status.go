package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hactl/hactl/plan"
)

// embeddedAgents holds the agents a release build carries (see
// agents_embed.go); nil when hactl runs from source.
var embeddedAgents map[string][]byte

func jsonUnmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type statusFlags struct {
	remoteFlags
	json bool
}

// NodeStatus is one row of hactl status.
type NodeStatus struct {
	Node         string `json:"node"`
	Reachable    bool   `json:"reachable"`
	Error        string `json:"error,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
	AgentRunning bool   `json:"agent_running"`
	SpecApplied  bool   `json:"spec_applied"`
	Healthy      bool   `json:"healthy"`
	LastError    string `json:"last_error,omitempty"`
}

func newStatusCommand() *cobra.Command {
	var flags statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node: reachable, agent, spec applied, healthy, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.OutOrStdout(), cmd.ErrOrStderr(), flags)
		},
	}
	flags.register(cmd)
	cmd.Flags().BoolVar(&flags.json, "json", false, "print the status as JSON (format_version 1)")
	return cmd
}

func runStatus(stdout, stderr io.Writer, flags statusFlags) error {
	ctx, stop := signalContext()
	defer stop()
	_, s, err := flags.session(stderr, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	observed := s.Observe(ctx)
	desired, _, err := s.Desired(ctx, observed)
	if err != nil {
		return withExitCode(exitError, err)
	}
	rows := make([]NodeStatus, 0, len(desired))
	unhealthy := false
	for _, d := range desired {
		o := observed[d.Node]
		r := NodeStatus{Node: d.Node, Reachable: o.Error == "", Error: o.Error, AgentVersion: o.AgentVersion, AgentRunning: o.AgentRunning}
		if st := o.Status; st != nil && o.AgentRunning {
			r.SpecApplied = st.SpecHash == d.SpecHash
			r.Healthy = st.Healthy
			r.LastError = st.SpecError
		}
		unhealthy = unhealthy || !r.Healthy
		rows = append(rows, r)
	}
	if flags.json {
		doc := struct {
			FormatVersion string       `json:"format_version"`
			Nodes         []NodeStatus `json:"nodes"`
		}{plan.JSONFormatVersion, rows}
		if err := plan.WriteJSON(stdout, doc); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tREACHABLE\tAGENT\tRUNNING\tSPEC APPLIED\tHEALTHY\tLAST ERROR")
		for _, r := range rows {
			last := r.LastError
			if r.Error != "" {
				last = r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, yesNo(r.Reachable), dash(r.AgentVersion), yesNo(r.AgentRunning), yesNo(r.SpecApplied), yesNo(r.Healthy), dash(last))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if unhealthy {
		return withExitCode(exitChanges, nil)
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
