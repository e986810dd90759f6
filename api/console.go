package api

// ConsoleRequest is the body of POST /v1/zones/{name}/console (then
// Upgrade: zoned-stream). The stream carries the console's output as
// Stdout frames to the client, and Stdin and Resize frames to the console;
// the client detaches by sending CloseStdin and gets an Exit frame (code 0).
// The stream ends with an Error frame when the zone stops or the client
// fell too far behind the console's output.
type ConsoleRequest struct {
	// Width and Height set the console's size at attach; 0 leaves it.
	Width  uint16 `json:"width,omitempty"`
	Height uint16 `json:"height,omitempty"`
}

// ConsoleDetachKey is the key (Ctrl-], as telnet and virsh use) zonectl
// and client.Console take as "detach" in the input.
const ConsoleDetachKey byte = 0x1d
