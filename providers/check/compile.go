package check

import (
	"github.com/hactl/hactl/agentbin/spec"
	"github.com/hactl/hactl/plan/topology"
	"github.com/hactl/hactl/providers"
)

// Compile converts a health check for the spec; nil stays nil.
func Compile(h *topology.HealthCheck) *spec.HealthCheck {
	if h == nil {
		return nil
	}
	return &spec.HealthCheck{
		Type: h.Type, IntervalMS: providers.MS(h.Interval), TimeoutMS: providers.MS(h.Timeout),
		Rise: h.Rise, Fall: h.Fall, Path: h.Path, Host: h.Host,
		ExpectStatus: h.ExpectStatus, BodyRegex: h.BodyRegex, Command: h.Command, VerifyTLS: h.VerifyTLS,
	}
}
