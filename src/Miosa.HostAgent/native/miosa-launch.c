/*
 * miosa-launch: the host-side first step of a jail sandbox, run as root by the host agent.
 *
 *   miosa-launch [--cgroup PROCS_FILE]... [--oom-score-adj N] [--nft PATH --netns-filter RULES]
 *                --socket PATH --uid U --gid G -- PROGRAM ARGS...
 *
 * It joins the sandbox's cgroups before anything of the sandbox runs (so no process ever escapes
 * its limits), lowers its OOM score where allowed (inherited by bwrap and the agent, never by
 * user processes: the agent resets them), binds the agent's listening socket as fd 3 in a root-only directory
 * (the sandbox can neither see nor replace it), drops to the sandbox's host uid/gid with no
 * capabilities and execs PROGRAM (bwrap). It writes one byte to stdout once the socket listens
 * (connections queue until the agent accepts them). Exit 125 means the launch itself failed.
 * A seccomp filter refuses (EPERM) the btrfs ioctls that create subvolumes or snapshots: a new
 * subvolume has a quota group of its own, so one made inside a workspace would escape disk_mb.
 * With --netns-filter (sandboxes with internet access) it first moves into a new network namespace
 * owned by the host's user namespace, brings its loopback up, turns IPv6 off for interfaces made
 * later (slirp's tap) and loads the nftables RULES into it with `NFT -f RULES`, all still as root: only the host's root can change those rules, never the
 * sandbox (bwrap then keeps this namespace: --share-net). The host attaches slirp4netns to it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <linux/audit.h>
#include <linux/btrfs.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define AGENT_FD 3

static void fail(const char *what, const char *arg) {
    fprintf(stderr, "miosa-launch: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
    exit(125);
}

static void usage(void) {
    fprintf(stderr, "usage: miosa-launch [--cgroup PROCS_FILE]... [--oom-score-adj N] [--nft PATH --netns-filter RULES] --socket PATH --uid U --gid G -- PROGRAM ARGS...\n");
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

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#define NATIVE_IOCTL 16
#define COMPAT_ARCH AUDIT_ARCH_I386
#define COMPAT_IOCTL 54
#define X32_IOCTL (0x40000000u | 514u)
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#define NATIVE_IOCTL 29
#define COMPAT_ARCH AUDIT_ARCH_ARM
#define COMPAT_IOCTL 54
#define X32_IOCTL NATIVE_IOCTL
#else
#error "miosa-launch knows the ioctl syscall numbers of x86_64 and aarch64 only"
#endif

/* ioctl(fd, cmd) with cmd one of the four above answers EPERM, for native and compat callers. */
static void deny_subvolume_ioctls(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_IOCTL, 5, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, X32_IOCTL, 4, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COMPAT_ARCH, 0, 9),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, COMPAT_IOCTL, 0, 7),
        /* The command is an unsigned int: its low 32 bits (little-endian: the first word). */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BTRFS_IOC_SNAP_CREATE, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BTRFS_IOC_SUBVOL_CREATE, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BTRFS_IOC_SNAP_CREATE_V2, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BTRFS_IOC_SUBVOL_CREATE_V2, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) < 0) fail("cannot install the seccomp filter", NULL);
}

/* A network namespace of the host's user namespace (so its filter is root's alone), loopback up,
 * the egress filter loaded by nft (run as root inside it) before anything of the sandbox runs. */
static void filtered_network_namespace(const char *nft, const char *rules) {
    if (unshare(CLONE_NEWNET) < 0) fail("cannot create a network namespace", NULL);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail("cannot create socket", NULL);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail("cannot read the flags of", "lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail("cannot bring up", "lo");
    close(s);
    /* Interfaces made from now on (slirp's tap) get no IPv6 at all: egress is IPv4 only. */
    int v6 = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
    if (v6 >= 0) {
        if (write(v6, "1", 1) != 1) fail("cannot write", "/proc/sys/net/ipv6/conf/default/disable_ipv6");
        close(v6);
    } else if (errno != ENOENT) fail("cannot open", "/proc/sys/net/ipv6/conf/default/disable_ipv6");

    pid_t child = fork();
    if (child < 0) fail("cannot fork", NULL);
    if (child == 0) {
        /* stdout is the host's readiness pipe: nft's words go to stderr. */
        dup2(2, 1);
        char *const args[] = {(char *)nft, "-f", (char *)rules, NULL};
        execv(nft, args);
        fprintf(stderr, "miosa-launch: cannot execute %s: %s\n", nft, strerror(errno));
        _exit(125);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) fail("cannot wait for", nft);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "miosa-launch: %s -f %s failed (status %d)\n", nft, rules, status);
        exit(125);
    }
}

int main(int argc, char **argv) {
    const char *socket_path = NULL, *oom = NULL, *nft = NULL, *netns_filter = NULL;
    long uid = -1, gid = -1;
    int i = 1;
    char self[32];
    snprintf(self, sizeof self, "%d", (int)getpid());
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (i + 1 >= argc) usage();
        if (!strcmp(argv[i], "--cgroup")) write_file(argv[++i], self);
        else if (!strcmp(argv[i], "--oom-score-adj")) oom = argv[++i];
        else if (!strcmp(argv[i], "--nft")) nft = argv[++i];
        else if (!strcmp(argv[i], "--netns-filter")) netns_filter = argv[++i];
        else if (!strcmp(argv[i], "--socket")) socket_path = argv[++i];
        else if (!strcmp(argv[i], "--uid")) uid = number(argv[++i]);
        else if (!strcmp(argv[i], "--gid")) gid = number(argv[++i]);
        else usage();
    }
    if (i >= argc || !socket_path || uid <= 0 || gid <= 0 || !netns_filter != !nft) usage();
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
    /* Before the readiness byte: once the host reads it, /proc/PID/ns/net is the sandbox's. */
    if (netns_filter) filtered_network_namespace(nft, netns_filter);

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
    deny_subvolume_ioctls();

    execv(argv[i], &argv[i]);
    fail("cannot execute", argv[i]);
    return 125;
}
