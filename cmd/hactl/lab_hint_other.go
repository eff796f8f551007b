//go:build !linux

package main

// upLabs finds no lab: labs need Linux network namespaces.
func upLabs() map[string][]string { return nil }
