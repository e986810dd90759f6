//go:build linux

package server

import "net/http"

func (s *Server) listOperations(w http.ResponseWriter, r *http.Request) {
	ops, err := s.m.ListOperations(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	status := r.URL.Query().Get("status")
	who := callerFrom(r.Context())
	kept := ops[:0]
	for _, op := range ops {
		if (status == "" || string(op.Status) == status) && s.opVisible(r.Context(), who, op) {
			kept = append(kept, op)
		}
	}
	ops = kept
	writeJSON(w, 200, ops)
}

func (s *Server) cancelOperation(w http.ResponseWriter, r *http.Request) {
	op, err := s.m.CancelOperation(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 202, op)
}
