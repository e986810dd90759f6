// Package lanecheck holds the tests the lane's selftest runs through
// "lane gotest" to prove that test binaries built on the host run inside the
// guest, see its kernel, and that their failures reach the caller. It lives
// under testdata so that "./..." patterns leave it out of ordinary runs.
package lanecheck
