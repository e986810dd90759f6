package main

import "context"

func (b *Bench) density(ctx context.Context) error  { return nil }
func (b *Bench) disk(ctx context.Context) error     { return nil }
func (b *Bench) apiScale(ctx context.Context) error { return nil }
func (b *Bench) network(ctx context.Context) error  { return nil }
func tcpMain(string, []string)                      {}
func writeDoc(string, *Results, string) error       { return nil }
