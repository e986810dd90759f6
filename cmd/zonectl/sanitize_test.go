package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCopyForTerminalShowsControls(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"booting\r\nok\n", "booting\r\nok\n"},
		{"tab\there", "tab\there"},
		// Set the title and ask for it back: the terminal would type it.
		{"\x1b]0;rm -rf /\a\x1b[21t", "^[]0;rm -rf /^G^[[21t"},
		// OSC 52 writes the operator's clipboard.
		{"\x1b]52;c;ZWNobyBldmls\a", "^[]52;c;ZWNobyBldmls^G"},
		// A lone carriage return would overwrite the line shown.
		{"secret\rpublic", "secret^Mpublic"},
		{"del\x7f", "del^?"},
		// C1 CSI encoded in UTF-8, and a raw 8-bit one.
		{"a\u009b2Jb", `a\u009b2Jb`},
		{"a\x9b2Jb", `a\x9b2Jb`},
		{"grüße ✓", "grüße ✓"},
	} {
		var out bytes.Buffer
		if err := copyForTerminal(&out, strings.NewReader(c.in)); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("%q shown as %q, want %q", c.in, out.String(), c.want)
		}
	}
}
