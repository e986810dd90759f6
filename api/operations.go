package api

// OperationCancelled is the status of an operation stopped by
// DELETE /v1/operations/{id}; its work was undone.
const OperationCancelled OperationStatus = "cancelled"

// Outcomes an operation's record carries when the daemon died while it
// ran and the next daemon dealt with it.
const (
	// OutcomeRolledBack: the work was undone; the status is failure.
	OutcomeRolledBack = "rolled back after daemon restart"
	// OutcomeResumed: the work was taken up again and ran to its end.
	OutcomeResumed = "resumed after daemon restart"
	// OutcomeCompleted: the work had finished, only its record had not
	// been updated; the status is success.
	OutcomeCompleted = "completed before daemon restart"
)
