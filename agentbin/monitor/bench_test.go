package monitor

import (
	"testing"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/collect"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/role"
	"github.com/hactl/hactl/agentbin/spec"
)

// BenchmarkCollection is one collection of this machine's figures,
// recorded in a history: the agent's work per interval.
func BenchmarkCollection(b *testing.B) {
	m := &spec.Monitor{Listen: "127.0.0.1:1", IntervalMS: 10000, Collectors: collect.NodeCollectors}
	inst, err := Kind{}.New(&spec.Spec{Node: "x", Monitor: m}, role.Env{})
	if err != nil {
		b.Fatal(err)
	}
	r := inst.(*Role)
	r.nodeC = collect.NewNode("/proc", "/sys", m.Collectors)
	r.clusterC = collect.NewCluster(nil)
	h, err := history.Open(b.TempDir(), 10*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	r.hist = h
	defer h.Close()
	start := time.Now()
	r.collect(time.Now())
	b.Logf("first collection (files made): %v, %d series", time.Since(start), len(r.samples))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.collect(start.Add(time.Duration(i+1) * 10 * time.Second))
	}
}
