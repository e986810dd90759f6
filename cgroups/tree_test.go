//go:build linux

package cgroups

import (
	"errors"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestValidateTree(t *testing.T) {
	for _, ok := range []TreeLimits{DefaultTreeLimits, {}, {MaxDescendants: 1}} {
		if err := ValidateTree(ok); err != nil {
			t.Errorf("ValidateTree(%+v) = %v", ok, err)
		}
	}
	for _, bad := range []TreeLimits{{MaxDescendants: -1}, {MaxDepth: -5}} {
		if err := ValidateTree(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ValidateTree(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}
