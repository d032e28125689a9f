//go:build !unix

package main

// selfCPU is 0 where getrusage(2) is missing: figures print without CPU.
func selfCPU() float64 { return 0 }

// childrenCPU is 0 where getrusage(2) is missing.
func childrenCPU() float64 { return 0 }
