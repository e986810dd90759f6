package api

// EventViewRestarted says the /proc view server died and what the daemon
// did: started it again and re-attached the running zones, or why it
// could not. It names no zone.
const EventViewRestarted = "view-restarted"
