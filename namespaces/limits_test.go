//go:build linux

package namespaces

import (
	"errors"
	"slices"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestUserNSLimitsValidate(t *testing.T) {
	if err := DefaultUserNSLimits().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for _, bad := range []UserNSLimits{
		{"max_mnt_namespace": 1},         // a typo, not a kernel file
		{"../../kernel/core_pattern": 1}, // never a path
		{"max_net_namespaces": -1},
		{"max_net_namespaces": 1 << 31},
	} {
		if err := bad.Validate(); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestUserNSCapabilitiesDropsOnlySysResource(t *testing.T) {
	got := UserNSCapabilities(nil)
	want := slices.DeleteFunc(DefaultCapabilities(), func(c string) bool { return c == "CAP_SYS_RESOURCE" })
	if !slices.Equal(got, want) {
		t.Errorf("UserNSCapabilities(nil) = %v, want the defaults without CAP_SYS_RESOURCE", got)
	}
	if got := UserNSCapabilities([]string{"sys_resource", "CAP_CHOWN"}); !slices.Equal(got, []string{"CAP_CHOWN"}) {
		t.Errorf("short names: %v, want [CAP_CHOWN]", got)
	}
}
