//go:build linux

package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/zoned-project/zoned/api"
	"github.com/zoned-project/zoned/errdefs"
)

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) {
	nets, err := s.m.ListNetworks(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, nets)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req api.Network
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	nw, err := s.m.CreateNetwork(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, nw)
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request) {
	nw, err := s.m.GetNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, nw)
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	if err := s.m.DeleteNetwork(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listNICs(w http.ResponseWriter, r *http.Request) {
	nics, err := s.m.ListNICs(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, nics)
}

func (s *Server) addNIC(w http.ResponseWriter, r *http.Request) {
	var req api.NICRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	nic, err := s.m.AddNIC(r.Context(), r.PathValue("name"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, nic)
}

func (s *Server) setNIC(w http.ResponseWriter, r *http.Request) {
	var p api.NICPatch
	if err := decode(r, &p); err != nil {
		writeError(w, err)
		return
	}
	nic, err := s.m.SetNIC(r.Context(), r.PathValue("name"), r.PathValue("nic"), p)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, nic)
}

func (s *Server) removeNIC(w http.ResponseWriter, r *http.Request) {
	if err := s.m.RemoveNIC(r.Context(), r.PathValue("name"), r.PathValue("nic")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listPortForwards(w http.ResponseWriter, r *http.Request) {
	fwds, err := s.m.ListPortForwards(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, fwds)
}

func (s *Server) addPortForward(w http.ResponseWriter, r *http.Request) {
	var pf api.PortForward
	if err := decode(r, &pf); err != nil {
		writeError(w, err)
		return
	}
	out, err := s.m.AddPortForward(r.Context(), r.PathValue("name"), pf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) removePortForward(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		writeError(w, errdefs.WithField("port", fmt.Errorf("host port %q is not a number: %w", r.PathValue("port"), errdefs.ErrInvalid)))
		return
	}
	if err := s.m.RemovePortForward(r.Context(), r.PathValue("name"), r.URL.Query().Get("protocol"), port); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
