package server

import (
	"net/http"
)

func (s *Server) zoneStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.m.ZoneStats(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, st)
}

func (s *Server) allStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.m.AllStats(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, st)
}
