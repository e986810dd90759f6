//go:build linux

package manager

import (
	"errors"
	"strings"
	"testing"

	"github.com/zoned-project/zoned/errdefs"
)

func TestValidateLabels(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many["k"+strings.Repeat("x", i)] = "v"
	}
	for _, tc := range []struct {
		labels map[string]string
		ok     bool
	}{
		{nil, true},
		{map[string]string{"customer": "c1042", "billing/plan": "pro basic", "a.b_c-d": ""}, true},
		{map[string]string{"owner": "Zoë"}, true},
		{map[string]string{"": "v"}, false},
		{map[string]string{"-x": "v"}, false},
		{map[string]string{"a=b": "v"}, false},
		{map[string]string{"a b": "v"}, false},
		{map[string]string{"ключ": "v"}, false},
		{map[string]string{strings.Repeat("k", MaxLabelKeyLength+1): "v"}, false},
		{map[string]string{"k": strings.Repeat("v", MaxLabelValueBytes+1)}, false},
		{map[string]string{"k": "line\nbreak"}, false},
		{map[string]string{"k": "\xff"}, false},
		{many, false},
	} {
		err := ValidateLabels(tc.labels)
		if tc.ok && err != nil {
			t.Errorf("%v: %v", tc.labels, err)
		}
		if !tc.ok && !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%.60v: %v, want invalid", tc.labels, err)
		}
	}
	if !matchLabels(map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "2"}) ||
		matchLabels(map[string]string{"a": "1"}, map[string]string{"a": "1", "b": "2"}) ||
		matchLabels(map[string]string{"a": "1"}, map[string]string{"a": "2"}) ||
		!matchLabels(nil, nil) {
		t.Error("matchLabels is not an AND of key=value")
	}
}
