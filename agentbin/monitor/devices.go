package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/hactl/hactl/agentbin/monitor/collect"
	"github.com/hactl/hactl/agentbin/monitor/history"
	"github.com/hactl/hactl/agentbin/monitor/metric"
	"github.com/hactl/hactl/agentbin/monitor/snmp"
	"github.com/hactl/hactl/agentbin/spec"
)

// device is an SNMP device this node polls, on its own interval, in its
// own goroutine: a device that does not answer makes its poll wait for a
// timeout, which must not delay the node's collection.
type device struct {
	spec spec.SNMPDevice
	// hist keeps the device's history with the device's interval as its
	// step: a counter polled every 30 s has a rate every 30 s.
	hist *history.Store

	mu      sync.Mutex
	samples []metric.Sample
	polled  time.Time
	fresh   bool // polled since the last take
	err     string

	// rates is the collection goroutine's, for thresholds on the
	// device's counters, updated with fresh polls only.
	rates collect.Rates
}

// run polls the device until ctx ends.
func (d *device) run(ctx context.Context, p *snmp.Poller) {
	interval := time.Duration(d.spec.IntervalMS) * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, interval)
		samples, err := p.Poll(pctx)
		cancel()
		now := time.Now()
		if d.hist != nil {
			if herr := d.hist.Record(now, samples); herr != nil && err == nil {
				err = herr
			}
		}
		d.mu.Lock()
		d.samples, d.polled, d.fresh = samples, now, true
		d.err = ""
		if err != nil {
			d.err = err.Error()
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// take returns the latest poll, and whether it is new since the last take.
func (d *device) take() ([]metric.Sample, time.Time, bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := d.fresh
	d.fresh = false
	return d.samples, d.polled, fresh, d.err
}

// startDevices opens each device's history and poller and starts polling.
// A device that cannot be set up (a missing community file) is reported
// in the status; the others and the node's own monitoring go on.
func (r *Role) startDevices(ctx context.Context, wg *sync.WaitGroup) []string {
	var errs []string
	for _, ds := range r.m.Devices {
		d := &device{spec: ds}
		if r.env.StateDir != "" {
			h, err := history.Open(filepath.Join(r.env.StateDir, "monitor", "snmp-"+ds.Name), time.Duration(ds.IntervalMS)*time.Millisecond)
			if err != nil {
				errs = append(errs, fmt.Sprintf("SNMP device %s: %v", ds.Name, err))
				continue
			}
			d.hist = h
		}
		p, err := snmp.NewPoller(ds, "")
		if err != nil {
			if d.hist != nil {
				d.hist.Close()
			}
			errs = append(errs, err.Error())
			continue
		}
		r.devices = append(r.devices, d)
		wg.Go(func() {
			defer p.Close()
			d.run(ctx, p)
		})
	}
	return errs
}
