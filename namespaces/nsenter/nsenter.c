// The whole "zoned-exec" role, run before the Go runtime; see nsenter.go.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENV_NAME "_ZONED_NSENTER"
#define MAX_NS 16
#define MAX_TASKS 32
// The exec config pipe (childConfigFd in dispatch_linux.go); the only
// inherited descriptor not named in ENV_NAME.
#define CONFIG_FD 3
// Flags of the exec config; the same values as ConfigTTY and
// ConfigListener in nsenter.go.
#define CONFIG_TTY 1
#define CONFIG_LISTENER 2
// lookPath's PATH when the environment has none (init_linux.go).
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
// Both appeared after some of the C libraries zoned is built with.
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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

// go_strerror is strerror(e) as Go's syscall.Errno prints it: the Go
// table is the C library's text with the first letter lowered ("No such
// file" becomes "no such file", "STREAMS" stays), and the daemon's
// clients and tests read these messages as the Go exec helper wrote them.
static const char *go_strerror(int e)
{
	static char buf[128];
	const char *s = strerror(e);

	snprintf(buf, sizeof(buf), "%s", s);
	if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
		buf[0] += 'a' - 'A';
	return buf;
}

// fail_cmd reports an error of the command's own setup (not found, a bad
// cwd, a refused filter) as "error MESSAGE\n", without fail's "nsenter: ",
// in the words the Go exec role used; the daemon wraps it with
// ErrCommand. A newline in the message (from a path) becomes a space so
// the message stays one line.
static void fail_cmd(const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	int n, i;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0 || msg == NULL)
		fail("out of memory reporting an error");
	for (i = 0; i < n; i++)
		if (msg[i] == '\n')
			msg[i] = ' ';
	if (sync_fd >= 0) {
		struct iovec iov[3] = {
			{.iov_base = "error ", .iov_len = 6},
			{.iov_base = msg, .iov_len = n},
			{.iov_base = "\n", .iov_len = 1},
		};
		if (writev(sync_fd, iov, 3) < 0) {
			/* nobody to tell */
		}
	}
	_exit(1);
}

// exec_config is what the daemon sends on CONFIG_FD (encodeExecConfig in
// exec_linux.go), all integers in the host's byte order:
//
//	u32 flags (CONFIG_TTY, CONFIG_LISTENER)
//	u64 capabilities kept in the bounding set, bit N for capability N
//	field cwd
//	field filter: the seccomp program as struct sock_filter[], may be empty
//	u32 argc, argc fields
//	u32 envc, envc fields
//
// where a field is a u32 length and that many bytes (no NUL in them).
struct exec_config {
	uint32_t flags;
	uint64_t caps;
	char *cwd;
	struct sock_filter *filter;
	unsigned short filter_len;
	char **argv;
	char **envp;
};

struct reader {
	const unsigned char *p, *end;
};

static int take(struct reader *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	memcpy(out, r->p, n);
	r->p += n;
	return 0;
}

// take_field returns a field's bytes as a NUL-terminated copy.
static char *take_field(struct reader *r, uint32_t *lenp)
{
	uint32_t len;
	char *s;

	if (take(r, &len, sizeof(len)) < 0 || (size_t)(r->end - r->p) < len)
		fail("read config: truncated");
	s = malloc(len + 1);
	if (s == NULL)
		fail("read config: out of memory");
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	if (lenp != NULL)
		*lenp = len;
	return s;
}

static char **take_list(struct reader *r)
{
	uint32_t n, i;
	char **list;

	if (take(r, &n, sizeof(n)) < 0 || n > (size_t)(r->end - r->p) / 4)
		fail("read config: truncated");
	list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		fail("read config: out of memory");
	for (i = 0; i < n; i++)
		list[i] = take_field(r, NULL);
	return list;
}

// read_config reads the config to EOF (the daemon writes it whole and
// closes its end before it releases us) and decodes it.
static void read_config(int fd, struct exec_config *cfg)
{
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	struct reader r;
	uint32_t filter_bytes;
	char *filter;

	if (buf == NULL)
		fail("read config: out of memory");
	for (;;) {
		ssize_t n;

		if (len == cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			if (nb == NULL)
				fail("read config: out of memory");
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("read config: %s", strerror(errno));
		if (n == 0)
			break;
		len += n;
	}
	r.p = buf;
	r.end = buf + len;
	if (take(&r, &cfg->flags, sizeof(cfg->flags)) < 0 || take(&r, &cfg->caps, sizeof(cfg->caps)) < 0)
		fail("read config: truncated");
	cfg->cwd = take_field(&r, NULL);
	filter = take_field(&r, &filter_bytes);
	if (filter_bytes % sizeof(struct sock_filter) != 0 ||
	    filter_bytes / sizeof(struct sock_filter) > BPF_MAXINSNS)
		fail("read config: seccomp filter of %u bytes", filter_bytes);
	cfg->filter_len = filter_bytes / sizeof(struct sock_filter);
	cfg->filter = calloc(cfg->filter_len + 1, sizeof(struct sock_filter));
	if (cfg->filter == NULL)
		fail("read config: out of memory");
	memcpy(cfg->filter, filter, filter_bytes);
	free(filter);
	cfg->argv = take_list(&r);
	cfg->envp = take_list(&r);
	if (r.p != r.end)
		fail("read config: %zu bytes too many", (size_t)(r.end - r.p));
	if (cfg->argv[0] == NULL)
		fail("read config: no command");
	free(buf);
}

// last_cap is the highest capability the running kernel knows.
static int last_cap(void)
{
	char buf[32];
	int fd, n, c;
	ssize_t got;

	fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("read cap_last_cap: open /proc/sys/kernel/cap_last_cap: %s", go_strerror(errno));
	do {
		got = read(fd, buf, sizeof(buf) - 1);
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		fail("read cap_last_cap: %s", go_strerror(errno));
	close(fd);
	buf[got] = '\0';
	if (sscanf(buf, "%d%n", &c, &n) != 1 || c < 0)
		fail("parse cap_last_cap \"%s\"", buf);
	return c;
}

// go_clean is Go's filepath.Clean on Unix: the shortest path naming the
// same file by purely lexical processing. lookPath joins PATH entries
// with filepath.Join, which cleans, and the command's argv and error
// messages must name the same path.
static char *go_clean(const char *path)
{
	size_t n = strlen(path), r = 0, w = 0, dotdot = 0;
	int rooted = path[0] == '/';
	char *out = malloc(n + 2);

	if (out == NULL)
		fail_cmd("out of memory");
	if (n == 0) {
		strcpy(out, ".");
		return out;
	}
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

// check_executable is checkExecutable (init_linux.go): NULL when p is an
// executable file, else the reason as os.Stat and checkExecutable word it.
static char *check_executable(const char *p)
{
	struct stat st;
	char *why = NULL;

	if (stat(p, &st) < 0) {
		if (asprintf(&why, "stat %s: %s", p, go_strerror(errno)) < 0)
			fail_cmd("out of memory");
		return why;
	}
	if (S_ISDIR(st.st_mode))
		return strdup("is a directory");
	if ((st.st_mode & 0111) == 0)
		return strdup("not executable");
	return NULL;
}

// look_path is lookPath (init_linux.go), inside the zone's root: a name
// with a slash is taken as it is; otherwise the first executable in PATH
// from envp (the last PATH= entry wins), with an empty entry meaning ".".
static char *look_path(const char *file, char **envp)
{
	const char *path_env = DEFAULT_PATH, *dir;
	char **e;

	if (strchr(file, '/') != NULL) {
		char *why = check_executable(file);
		if (why != NULL)
			fail_cmd("%s: %s", file, why);
		return strdup(file);
	}
	for (e = envp; *e != NULL; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path_env = *e + 5;
	// filepath.SplitList gives no entries for an empty PATH.
	for (dir = *path_env ? path_env : NULL; dir != NULL;) {
		const char *colon = strchr(dir, ':');
		size_t dlen = colon ? (size_t)(colon - dir) : strlen(dir);
		char *joined, *p, *why;

		if (asprintf(&joined, "%.*s%s%s", dlen ? (int)dlen : 1, dlen ? dir : ".",
			     *file ? "/" : "", file) < 0)
			fail_cmd("out of memory");
		p = go_clean(joined);
		free(joined);
		why = check_executable(p);
		if (why == NULL)
			return p;
		free(why);
		free(p);
		dir = colon ? colon + 1 : NULL;
	}
	fail_cmd("%s: executable file not found in PATH %s", file, path_env);
	return NULL;
}

// install_seccomp loads the daemon's filter (installSeccomp in
// seccomp_linux.go says why it comes last and needs no no_new_privs) and
// returns its listener, or -1 when the policy notifies nobody.
static int install_seccomp(const struct exec_config *cfg)
{
	struct sock_fprog prog = {.len = cfg->filter_len, .filter = cfg->filter};
	unsigned long flags = cfg->flags & CONFIG_LISTENER ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
	long fd;

	if (cfg->filter_len == 0)
		return -1;
	// seccomp(2) rather than prctl: only it can ask for a listener.
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0) {
		if (errno == EACCES)
			fail_cmd("seccomp: install filter: %s (without no_new_privs this needs CAP_SYS_ADMIN)", go_strerror(errno));
		if (errno == EBUSY && flags != 0)
			// The kernel allows one listener in a process's filter chain.
			fail_cmd("seccomp: install filter: %s (a filter with a listener is already installed)", go_strerror(errno));
		fail_cmd("seccomp: install filter: %s", go_strerror(errno));
	}
	return flags != 0 ? (int)fd : -1;
}

// send_listener sends "seccomp\n" with the listener attached to the
// daemon, which hands it to the policy's listenerPath, and closes ours:
// nothing inside the zone may answer its own syscalls.
static void send_listener(int fd)
{
	char msg[] = "seccomp\n";
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	ssize_t n;

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	do {
		n = sendmsg(sync_fd, &mh, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		fail_cmd("seccomp: pass the listener to the parent: %s", go_strerror(errno));
	close(fd);
}

// close_on_exec_from is CloseOnExecFrom (fds_linux.go): every descriptor
// from first up closes in execve, so only stdio reaches the command.
static void close_on_exec_from(int first)
{
	DIR *d;
	struct dirent *de;

	if (syscall(SYS_close_range, (unsigned int)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	if (errno != ENOSYS && errno != EINVAL)
		fail_cmd("close_range(%d, ~0, CLOSE_RANGE_CLOEXEC): %s", first, go_strerror(errno));
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk the table.
	d = opendir("/proc/self/fd");
	if (d == NULL)
		fail_cmd("list open descriptors: open /proc/self/fd: %s", go_strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end != '\0' || end == de->d_name || fd < first || fd == dirfd(d))
			continue;
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
			fail_cmd("mark descriptor %ld close-on-exec: %s", fd, go_strerror(errno));
	}
	closedir(d);
}

// run_command is the exec role's child, inside every namespace and the
// zone's root: it prepares the command's process and execs it. It never
// returns.
static void run_command(const struct exec_config *cfg, int cap_last)
{
	char go;
	ssize_t n;
	int c, listener;
	char *path;

	// The sync socket must close in execve: the daemon takes EOF as
	// the sign that the command runs.
	if (fcntl(sync_fd, F_SETFD, FD_CLOEXEC) < 0)
		fail_cmd("mark the sync socket close-on-exec: %s", go_strerror(errno));
	// Wait until the daemon holds a pidfd on us.
	do {
		n = read(sync_fd, &go, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		fail_cmd("wait for the daemon: %s", n == 0 ? "EOF" : go_strerror(errno));
	if (cfg->flags & CONFIG_TTY) {
		if (setsid() < 0)
			fail_cmd("setsid: %s", go_strerror(errno));
		if (ioctl(0, TIOCSCTTY, 0) < 0)
			fail_cmd("make stdin the controlling terminal: %s", go_strerror(errno));
	}
	if (chdir(cfg->cwd) < 0)
		fail_cmd("chdir %s: %s", cfg->cwd, go_strerror(errno));
	// execve gives root only the capabilities in the bounding set, and
	// no later execve (setuid binaries, file caps) can regain the others.
	for (c = 0; c <= cap_last; c++) {
		if (c < 64 && (cfg->caps >> c & 1))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			fail_cmd("drop capability %d from bounding set: %s", c, go_strerror(errno));
	}
	path = look_path(cfg->argv[0], cfg->envp);
	listener = install_seccomp(cfg);
	if (listener >= 0)
		send_listener(listener);
	close_on_exec_from(CONFIG_FD);
	execve(path, cfg->argv, cfg->envp);
	fail_cmd("exec %s: %s", path, go_strerror(errno));
}

// close_span closes descriptors lo..hi; close_range(2) where the kernel
// has it (5.9), one by one below the descriptor limit otherwise.
static void close_span(unsigned int lo, unsigned int hi)
{
	long max;
	unsigned int fd;

	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
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
	char *spec, *nslist, *rootspec, *taskspec = NULL, *tok, *save;
	int ns_fds[MAX_NS];
	int task_fds[MAX_TASKS];
	int n_tasks = 0;
	int root_fd = -1;
	int n_ns = 0, i;
	char go;
	ssize_t n;
	pid_t child;
	struct exec_config cfg;
	int cap_last;

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
		// An optional fourth: cgroup v1 "tasks" files to move into.
		taskspec = strchr(rootspec, ';');
		if (taskspec != NULL)
			*taskspec++ = '\0';
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

	for (tok = taskspec ? strtok_r(taskspec, ",", &save) : NULL; tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n_tasks == MAX_TASKS)
			fail("too many cgroup hierarchies");
		task_fds[n_tasks++] = atoi(tok);
	}

	{
		int keep[MAX_NS + MAX_TASKS + 3];
		int n_keep = 0;

		keep[n_keep++] = CONFIG_FD;
		keep[n_keep++] = sync_fd;
		for (i = 0; i < n_ns; i++)
			keep[n_keep++] = ns_fds[i];
		if (root_fd >= 0)
			keep[n_keep++] = root_fd;
		for (i = 0; i < n_tasks; i++)
			keep[n_keep++] = task_fds[i];
		close_inherited(keep, n_keep);
	}
	// Into the zone's cgroup v1 hierarchies (cgroups.Entry): a thread
	// moving itself ("0" to "tasks") skips the global lock a move by
	// pid takes, and its wait for an RCU grace period. We are the
	// process's only thread, so the whole process moves.
	for (i = 0; i < n_tasks; i++) {
		if (write(task_fds[i], "0", 1) != 1)
			fail("join the zone's cgroup (tasks, fd %d): %s", task_fds[i], strerror(errno));
		close(task_fds[i]);
	}
	// Read while the host's /proc is ours: the zone's may be a view.
	read_config(CONFIG_FD, &cfg);
	close(CONFIG_FD);
	cap_last = last_cap();

	// Wait until the daemon has set up the rest (our OOM score, the
	// cgroup by pid where we could not enter it ourselves), so nothing
	// we fork can run outside the zone's cgroup.
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
	if (child == 0)
		// Inside every namespace now. The command gets the config's
		// environment, so the variable cannot leak into it.
		run_command(&cfg, cap_last);

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
