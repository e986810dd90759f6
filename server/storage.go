//go:build linux

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

func (s *Server) createSnapshot(w http.ResponseWriter, r *http.Request) {
	var req api.CreateSnapshotRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	op, err := s.m.CreateSnapshot(r.Context(), r.PathValue("name"), req)
	writeOperation(w, op, err)
}

// writeOperation answers a call that started an operation: 202 with the
// operation and where to follow it.
func writeOperation(w http.ResponseWriter, op *api.Operation, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/operations/"+op.ID)
	writeJSON(w, http.StatusAccepted, op)
}

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) {
	snaps, err := s.m.ListSnapshots(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, snaps)
}

func (s *Server) restoreSnapshot(w http.ResponseWriter, r *http.Request) {
	op, err := s.m.RestoreSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap"))
	writeOperation(w, op, err)
}

func (s *Server) deleteSnapshot(w http.ResponseWriter, r *http.Request) {
	if err := s.m.DeleteSnapshot(r.Context(), r.PathValue("name"), r.PathValue("snap")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) cloneZone(w http.ResponseWriter, r *http.Request) {
	var req api.CloneZoneRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	// A clone holds as much as its source: it counts against caps.
	who := callerFrom(r.Context())
	if who.capped() {
		defer s.capLock(who)()
		src, err := s.m.GetZone(r.Context(), r.PathValue("name"))
		if err == nil {
			err = s.checkCaps(r.Context(), who, "", src.Resources)
		}
		if err != nil {
			writeError(w, err)
			return
		}
	}
	z, err := s.m.CloneZone(r.Context(), r.PathValue("name"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, z)
}

func (s *Server) exportZone(w http.ResponseWriter, r *http.Request) {
	var req api.ExportZoneRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	op, err := s.m.ExportZone(r.Context(), r.PathValue("name"), req)
	writeOperation(w, op, err)
}

func (s *Server) importZone(w http.ResponseWriter, r *http.Request) {
	var req api.ImportZoneRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	op, err := s.m.ImportZone(r.Context(), req)
	writeOperation(w, op, err)
}
