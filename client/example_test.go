package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/client"
	"github.com/zoned-project/zoned/errdefs"
)

// A control panel provisions a zone for a plan, boots it and runs a
// command in it. (No "Output:" line: this needs a running daemon.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := client.New("") // api.DefaultSocket

	z, err := c.CreateZone(ctx, api.CreateZoneRequest{
		Name:     "web1",
		Template: "busybox",
		Resources: api.Resources{
			MemoryBytes:     512 << 20,
			CPULimitPercent: 150,
			PidsMax:         512,
		},
	})
	switch {
	case errors.Is(err, errdefs.ErrAlreadyExists):
		// Provisioning is retried by the panel: an existing zone is fine.
	case err != nil:
		log.Fatal(err) // the daemon's own message, e.g. `template "busybox" not found`
	default:
		fmt.Println("created", z.Name, z.State)
	}

	if _, err := c.StartZone(ctx, "web1"); err != nil {
		log.Fatal(err)
	}
	code, err := c.Exec(ctx, "web1", api.ExecRequest{Command: []string{"uname", "-n"}},
		client.ExecOptions{Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", code)
}

// Building a template is slow work: the daemon answers with an operation
// that the caller follows.
func ExampleClient_WaitOperation() {
	ctx := context.Background()
	c := client.New("")
	op, err := c.CreateTemplate(ctx, api.CreateTemplateRequest{Name: "debian12", From: "debootstrap", Suite: "bookworm"})
	if err != nil {
		log.Fatal(err)
	}
	for op.Status == api.OperationRunning {
		if op, err = c.WaitOperation(ctx, op.ID, 30*time.Second); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d%% %s\n", op.Progress, op.Message)
	}
	if err := client.OperationError(op); err != nil {
		log.Fatal(err)
	}
}
