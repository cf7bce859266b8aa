/*
 * miosa-launch: the host-side first step of a jail sandbox, run as root by the host agent.
 *
 *   miosa-launch [--cgroup PROCS_FILE]... [--oom-score-adj N] --socket PATH --uid U --gid G
 *                -- PROGRAM ARGS...
 *
 * It joins the sandbox's cgroups before anything of the sandbox runs (so no process ever escapes
 * its limits), lowers its OOM score where allowed (inherited by bwrap and the agent, never by
 * user processes: the agent resets them), binds the agent's listening socket as fd 3 in a root-only directory
 * (the sandbox can neither see nor replace it), drops to the sandbox's host uid/gid with no
 * capabilities and execs PROGRAM (bwrap). It writes one byte to stdout once the socket listens
 * (connections queue until the agent accepts them). Exit 125 means the launch itself failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define AGENT_FD 3

static void fail(const char *what, const char *arg) {
    fprintf(stderr, "miosa-launch: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
    exit(125);
}

static void usage(void) {
    fprintf(stderr, "usage: miosa-launch [--cgroup PROCS_FILE]... [--oom-score-adj N] --socket PATH --uid U --gid G -- PROGRAM ARGS...\n");
    exit(125);
}

static void write_file(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("cannot open", path);
    ssize_t n = write(fd, value, strlen(value));
    if (n != (ssize_t)strlen(value)) fail("cannot write", path);
    close(fd);
}

static long number(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end) usage();
    return v;
}

int main(int argc, char **argv) {
    const char *socket_path = NULL, *oom = NULL;
    long uid = -1, gid = -1;
    int i = 1;
    char self[32];
    snprintf(self, sizeof self, "%d", (int)getpid());
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--cgroup")) write_file(argv[++i], self);
        else if (!strcmp(argv[i], "--oom-score-adj")) oom = argv[++i];
        else if (!strcmp(argv[i], "--socket")) socket_path = argv[++i];
        else if (!strcmp(argv[i], "--uid")) uid = number(argv[++i]);
        else if (!strcmp(argv[i], "--gid")) gid = number(argv[++i]);
        else usage();
    }
    if (i >= argc || !socket_path || uid <= 0 || gid <= 0) usage();
    if (oom) {
        /* Lowering needs CAP_SYS_RESOURCE, which some container hosts withhold; then the agent
         * relies on being by far the smallest process in its cgroup. */
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || (write(fd, oom, strlen(oom)) < 0 && errno != EACCES && errno != EPERM))
            fail("cannot set", "/proc/self/oom_score_adj");
        close(fd);
    }

    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0) fail("cannot open", "/dev/null");
    if (nul != 0) { dup2(nul, 0); close(nul); }

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof addr.sun_path) { errno = ENAMETOOLONG; fail("socket path too long", socket_path); }
    strcpy(addr.sun_path, socket_path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0) fail("cannot create socket", NULL);
    if (unlink(socket_path) < 0 && errno != ENOENT) fail("cannot remove", socket_path);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) fail("cannot bind", socket_path);
    if (chmod(socket_path, 0600) < 0) fail("cannot chmod", socket_path);
    if (listen(s, 128) < 0) fail("cannot listen on", socket_path);
    /* The host waits for this byte instead of polling for the socket file. */
    if (write(1, "L", 1) != 1) fail("cannot signal readiness", NULL);
    if (s != AGENT_FD) {
        if (dup2(s, AGENT_FD) < 0) fail("cannot dup", NULL);
        close(s);
    }
    /* Only stdio and the agent socket go on; .NET marks its own fds close-on-exec, others may not. */
    syscall(SYS_close_range, AGENT_FD + 1, ~0u, 0);

    gid_t g = (gid_t)gid;
    if (setgroups(0, NULL) < 0) fail("cannot clear groups", NULL);
    if (setresgid(g, g, g) < 0) fail("cannot set gid", NULL);
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) fail("cannot set uid", NULL);
    /* setresuid away from root already cleared permitted/effective; inheritable and ambient go too. */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) fail("cannot drop capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("cannot set no_new_privs", NULL);

    execv(argv[i], &argv[i]);
    fail("cannot execute", argv[i]);
    return 125;
}
