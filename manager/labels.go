//go:build linux

package manager

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
	"github.com/zoned-project/zoned/internal/revert"
	"github.com/zoned-project/zoned/manager/part"
	"github.com/zoned-project/zoned/store"
)

// Bounds of a zone's labels: enough for a panel's customer, plan and
// order IDs, small enough that a thousand zones' records stay cheap to
// list and filter.
const (
	MaxLabels          = 64
	MaxLabelKeyLength  = 128
	MaxLabelValueBytes = 256
)

// ValidateLabels checks labels: keys of letters, digits and "._-/"
// starting with a letter or digit (so "customer", "billing/plan"), values
// of printable text without control characters.
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%d labels, more than %d: %w", len(labels), MaxLabels, errdefs.ErrInvalid)
	}
	for k, v := range labels {
		if err := validateLabelKey(k); err != nil {
			return err
		}
		if len(v) > MaxLabelValueBytes {
			return fmt.Errorf("label %q: value is %d bytes, more than %d: %w", k, len(v), MaxLabelValueBytes, errdefs.ErrInvalid)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("label %q: value is not UTF-8: %w", k, errdefs.ErrInvalid)
		}
		for _, c := range v {
			if !unicode.IsPrint(c) {
				return fmt.Errorf("label %q: value has the unprintable character %q: %w", k, c, errdefs.ErrInvalid)
			}
		}
	}
	return nil
}

func validateLabelKey(k string) error {
	if k == "" || len(k) > MaxLabelKeyLength {
		return fmt.Errorf("label key %q must be 1-%d characters: %w", k, MaxLabelKeyLength, errdefs.ErrInvalid)
	}
	for i, c := range k {
		alnum := c < utf8.RuneSelf && (unicode.IsLetter(c) || unicode.IsDigit(c))
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-' && c != '/')) {
			return fmt.Errorf("label key %q has %q; use letters, digits and . _ - / (starting with a letter or digit): %w", k, c, errdefs.ErrInvalid)
		}
	}
	return nil
}

// matchLabels reports whether have carries every key=value of want.
func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// labelsPart keeps a zone's labels: checked at create and stored in its
// record. They change nothing on the host.
type labelsPart struct{ part.Base }

func (labelsPart) Name() string { return "labels" }

func (labelsPart) ValidateCreate(_ context.Context, req *api.CreateZoneRequest) error {
	return errdefs.WithField("labels", ValidateLabels(req.Labels))
}

func (labelsPart) Create(_ context.Context, rec *store.ZoneRecord, req *api.CreateZoneRequest, _ *revert.Reverter) error {
	if len(req.Labels) > 0 {
		rec.Labels = req.Labels
	}
	return nil
}
