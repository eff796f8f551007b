package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/hactl/hactl/agentbin/status"
	"github.com/hactl/hactl/plan"
	"github.com/hactl/hactl/plan/config"
)

// jsonFields lists the JSON names of a struct type and of the structs it
// holds.
func jsonFields(t reflect.Type, seen map[reflect.Type]bool, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() == "time" {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case name != "":
			out[name] = true
		}
		jsonFields(f.Type, seen, out)
	}
}

func TestEveryJSONFieldIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	seen := map[reflect.Type]bool{}
	for _, v := range []any{config.JSONDiagnostics{}, plan.SavedPlan{}, plan.DriftItem{}, NodeStatus{}, status.Heartbeat{}} {
		jsonFields(reflect.TypeOf(v), seen, fields)
	}
	for name := range fields {
		if !strings.Contains(string(doc), name+"`") && !strings.Contains(string(doc), name+"[]") {
			t.Errorf("JSON field %q is not in docs/json.md", name)
		}
	}
}
