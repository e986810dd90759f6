//go:build linux

package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

// setETag sends the zone's revision as its entity tag.
func setETag(w http.ResponseWriter, z *api.Zone) {
	if z.Revision > 0 {
		w.Header().Set("ETag", `"`+strconv.FormatUint(z.Revision, 10)+`"`)
	}
}

// ifMatch reads If-Match as the revision a PATCH is conditional on: 0 when
// the header is absent or "*". A tag that is no revision of ours can never
// match, so it is a failed precondition, not a bad request (RFC 9110).
// Of a list of tags only one may be given: a zone is at one revision.
func ifMatch(r *http.Request) (uint64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	tag := strings.TrimPrefix(v, "W/")
	if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		if rev, err := strconv.ParseUint(tag[1:len(tag)-1], 10, 64); err == nil && rev > 0 {
			return rev, nil
		}
	}
	return 0, errdefs.WithField("If-Match", fmt.Errorf("If-Match %q is not a zone's ETag (a quoted revision like \"3\"): %w", v, errdefs.ErrPrecondition))
}
