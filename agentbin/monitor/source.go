package monitor

import (
	"errors"
	"slices"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/api"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/status"
)

// source is what the role gives the dashboard's API: the node's history
// and each SNMP device's, as one.
type source struct {
	r      *Role
	stores []*history.Store
}

var _ api.Source = (*source)(nil)

func (s *source) Series() []string {
	var out []string
	for _, st := range s.stores {
		out = append(out, st.Series()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *source) Fetch(series string, span history.Span, now time.Time) ([]history.Point, error) {
	for _, st := range s.stores {
		points, err := st.Fetch(series, span, now)
		if !errors.Is(err, history.ErrNoSeries) {
			return points, err
		}
	}
	return nil, history.ErrNoSeries
}

func (s *source) Latest() []metric.Sample { return s.r.Latest() }

func (s *source) Status() (*status.Status, error) {
	if s.r.env.Status == nil {
		return nil, errors.New("this agent reports no status")
	}
	return s.r.env.Status()
}
