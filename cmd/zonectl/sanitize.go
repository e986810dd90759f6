package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// copyForTerminal copies what a zone wrote (its console log) to an
// operator's terminal with the terminal's control sequences made visible.
// The bytes come from the zone, that is from the customer: raw, an escape
// sequence could set the window title and ask the terminal to type it back
// (input injection), write the operator's clipboard (OSC 52), hide lines
// or rewrite what was printed before. Newlines and tabs pass; a carriage
// return passes only before a newline (a console writes "\r\n"); every
// other C0 control and DEL is shown in caret notation (ESC is "^["), C1
// controls as \u009b, and bytes that are not UTF-8 as \x9b. Pipes and
// files get the bytes unchanged (zonectl only calls this for a terminal).
func copyForTerminal(w io.Writer, r io.Reader) error {
	in := bufio.NewReader(r)
	out := bufio.NewWriter(w)
	for {
		c, size, err := in.ReadRune()
		if err != nil {
			if flushErr := out.Flush(); flushErr != nil {
				return flushErr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch {
		case c == utf8.RuneError && size == 1:
			_ = in.UnreadRune()
			b, _ := in.ReadByte()
			fmt.Fprintf(out, `\x%02x`, b)
		case c == '\n' || c == '\t':
			out.WriteRune(c)
		case c == '\r':
			if next, perr := in.Peek(1); perr == nil && next[0] == '\n' {
				out.WriteByte('\r')
			} else {
				out.WriteString("^M")
			}
		case c < 0x20:
			out.WriteByte('^')
			out.WriteByte(byte(c) + '@')
		case c == 0x7f:
			out.WriteString("^?")
		case c >= 0x80 && c <= 0x9f:
			fmt.Fprintf(out, `\u%04x`, c)
		default:
			out.WriteRune(c)
		}
	}
}
