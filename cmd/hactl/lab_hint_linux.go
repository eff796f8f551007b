//go:build linux

package main

import "github.com/hactl/hactl/e2e/lab"

// upLabs returns the node names of every lab up on this machine, by lab.
func upLabs() map[string][]string {
	names, err := lab.List()
	if err != nil {
		return nil
	}
	labs := map[string][]string{}
	for _, name := range names {
		if l, err := lab.Open(name); err == nil {
			labs[name] = l.Nodes()
		}
	}
	return labs
}
