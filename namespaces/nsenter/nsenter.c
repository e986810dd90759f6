// Pre-runtime namespace joining for "zoned-exec"; see nsenter.go.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENV_NAME "_ZONED_NSENTER"
#define MAX_NS 16
// The role's config pipe, which the Go side reads (childConfigFd in
// dispatch_linux.go); the only inherited descriptor not named in ENV_NAME.
#define CONFIG_FD 3

static int sync_fd = -1;

// fail reports an error to the daemon over the sync socket and exits.
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 8, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(msg) - 8)
		n = sizeof(msg) - 8;
	if (sync_fd >= 0) {
		char line[600];
		int len = snprintf(line, sizeof(line), "error nsenter: %.*s\n", n, msg);
		if (write(sync_fd, line, len) < 0) {
			/* nobody to tell */
		}
	}
	_exit(1);
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("write to sync socket: %s", strerror(errno));
		}
		buf += n;
		len -= n;
	}
}

// close_span closes descriptors lo..hi; close_range(2) where the kernel
// has it (5.9), one by one below the descriptor limit otherwise.
static void close_span(unsigned int lo, unsigned int hi)
{
	long max;
	unsigned int fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0)
		max = 1 << 20;
	for (fd = lo; fd <= hi && fd < (unsigned long)max; fd++)
		close(fd);
}

// close_inherited closes every descriptor above stderr except the n in
// keep. Whatever else the daemon's process had open without close-on-exec
// (what its own parent leaked to it) must not follow us into the zone: a
// directory of the host held by a process inside the zone's namespaces is
// a way out through /proc/PID/fd/N (CVE-2024-21626), and the zone's root
// can open that while we run.
static void close_inherited(const int *keep, int n)
{
	unsigned int lo = 3;
	int i;

	for (;;) {
		int next = -1;

		for (i = 0; i < n; i++)
			if (keep[i] >= (int)lo && (next < 0 || keep[i] < next))
				next = keep[i];
		if (next < 0) {
			close_span(lo, ~0U);
			return;
		}
		if ((unsigned int)next > lo)
			close_span(lo, next - 1);
		lo = next + 1;
	}
}

// relay makes this process end exactly like the child did, so the
// daemon's wait on us reports the command's own status.
static void relay(int status)
{
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		sigset_t set;
		struct rlimit no_core = {0, 0};

		// Re-raising a core-dumping signal must not dump our core.
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		// A signal that did not kill us (SIGCHLD, say) cannot be relayed.
		_exit(128 + sig);
	}
	_exit(255);
}

__attribute__((constructor)) static void zoned_nsenter(void)
{
	const char *env = getenv(ENV_NAME);
	char *spec, *nslist, *rootspec, *tok, *save;
	int ns_fds[MAX_NS];
	int root_fd = -1;
	int n_ns = 0, i;
	char go;
	ssize_t n;
	pid_t child;

	if (env == NULL || *env == '\0')
		return;
	spec = strdup(env);
	if (spec == NULL)
		_exit(1);
	nslist = strchr(spec, ';');
	if (nslist != NULL)
		*nslist++ = '\0';
	// An optional third field: a descriptor of the zone init's root.
	rootspec = nslist ? strchr(nslist, ';') : NULL;
	if (rootspec != NULL) {
		*rootspec++ = '\0';
		root_fd = atoi(rootspec);
	}
	sync_fd = atoi(spec);
	if (sync_fd < 3)
		_exit(1);
	for (tok = nslist ? strtok_r(nslist, ",", &save) : NULL; tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n_ns == MAX_NS)
			fail("too many namespaces");
		ns_fds[n_ns++] = atoi(tok);
	}

	{
		int keep[MAX_NS + 3];
		int n_keep = 0;

		keep[n_keep++] = CONFIG_FD;
		keep[n_keep++] = sync_fd;
		for (i = 0; i < n_ns; i++)
			keep[n_keep++] = ns_fds[i];
		if (root_fd >= 0)
			keep[n_keep++] = root_fd;
		close_inherited(keep, n_keep);
	}

	// Wait until the daemon has moved us into the zone's cgroup, so
	// nothing we fork can run outside it.
	do {
		n = read(sync_fd, &go, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		fail("wait for the daemon: %s", n == 0 ? "EOF" : strerror(errno));

	for (i = 0; i < n_ns; i++) {
		int is_user = ioctl(ns_fds[i], NS_GET_NSTYPE) == CLONE_NEWUSER;

		if (setns(ns_fds[i], 0) < 0)
			fail("setns(fd %d): %s", ns_fds[i], strerror(errno));
		close(ns_fds[i]);
		// Joining a zone's user namespace keeps our host IDs, which are
		// unmapped there: the command would run as "nobody" and create
		// files the zone cannot own. Become the zone's root, and drop
		// the daemon's supplementary groups, unmapped as well.
		if (is_user) {
			if (setgroups(0, NULL) < 0)
				fail("setgroups in the zone's user namespace: %s", strerror(errno));
			if (setresgid(0, 0, 0) < 0)
				fail("setresgid 0 in the zone's user namespace: %s", strerror(errno));
			if (setresuid(0, 0, 0) < 0)
				fail("setresuid 0 in the zone's user namespace: %s", strerror(errno));
		}
	}
	// setns(CLONE_NEWNS) leaves us at the namespace's root mount, which is
	// the zone's root only if the host itself booted by moving its root
	// onto "/". A host that reached its root by chroot (an initramfs that
	// chroots, a test VM) would leave us outside the zone, so go to the
	// zone init's own root explicitly.
	if (root_fd >= 0) {
		if (fchdir(root_fd) < 0)
			fail("fchdir to the zone's root: %s", strerror(errno));
		if (chroot(".") < 0)
			fail("chroot to the zone's root: %s", strerror(errno));
		if (chdir("/") < 0)
			fail("chdir /: %s", strerror(errno));
		close(root_fd);
	}

	child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		// Inside every namespace now; let the Go runtime start the
		// "zoned-exec" role. The variable must not leak into the command.
		unsetenv(ENV_NAME);
		free(spec);
		return;
	}

	{
		char line[64];
		int len = snprintf(line, sizeof(line), "pid %d\n", (int)child);
		write_all(sync_fd, line, len);
	}
	// The child holds its own copy; ours must go so the daemon sees EOF
	// once the child has exec'd.
	close(sync_fd);
	sync_fd = -1;
	// Terminal signals belong to the command, not to us: we only relay.
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	for (;;) {
		int status;
		pid_t w = waitpid(child, &status, 0);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			_exit(255);
		}
		if (w == child)
			relay(status);
	}
}
