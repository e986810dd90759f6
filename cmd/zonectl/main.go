// Command zonectl is the operator's command line for zoned: it creates,
// starts, enters and limits zones and manages templates, talking to the
// daemon only through package client. It stays thin: flags in, API call,
// output.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
