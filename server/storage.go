package server

import (
	"net/http"

	"github.com/zoned-project/zoned/api"
)

func (s *Server) listPools(w http.ResponseWriter, r *http.Request) {
	p, err := s.m.ListPools(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if p == nil {
		p = []api.Pool{}
	}
	writeJSON(w, 200, p)
}

func (s *Server) createPool(w http.ResponseWriter, r *http.Request) {
	var req api.CreatePoolRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	p, err := s.m.CreatePool(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) deletePool(w http.ResponseWriter, r *http.Request) {
	if err := s.m.DeletePool(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) {
	du, err := s.m.DiskUsage(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, du)
}
