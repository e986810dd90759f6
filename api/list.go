package api

// ZoneListOptions are the query of GET /v1/zones: filters, and a page of
// at most Limit zones (sorted by name) after the zone named After. When
// more zones remain, the answer's X-Next-After header names the last one
// sent, to pass as After for the next page.
type ZoneListOptions struct {
	State    ZoneState `json:"state,omitempty"`
	Template string    `json:"template,omitempty"`
	Limit    int       `json:"limit,omitempty"`
	After    string    `json:"after,omitempty"`
	// Labels keeps zones that carry every key=value given (?label=k=v,
	// repeatable).
	Labels map[string]string `json:"labels,omitempty"`
}

// NextAfterHeader is the answer header of GET /v1/zones that says where
// the next page starts.
const NextAfterHeader = "X-Next-After"

// MaxListLimit bounds the limit of one page.
const MaxListLimit = 1000
