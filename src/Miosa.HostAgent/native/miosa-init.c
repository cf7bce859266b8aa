/*
 * miosa-init: PID 1 of a jail sandbox and its in-sandbox agent.
 *
 * The host's launcher (miosa-launch) hands us a listening unix socket as fd 3; its path lives in a
 * root-only host directory, so nothing inside the sandbox can replace or redirect it. Every
 * connection carries one request in frames of [u8 type][u32 big-endian length][payload]; the
 * protocol is mirrored in SandboxAgentProtocol.cs. PID 1 answers the small requests itself
 * (ping, background processes, whose exit codes only PID 1 can reap) and forks one handler per
 * connection for everything that streams (exec, files, port connections), so a long exec never
 * blocks a file read. A port connection turns its unix socket into a raw byte pipe to a TCP port
 * on the sandbox's own loopback: the host reaches sandbox ports without any IP route into it. A
 * terminal runs a shell on a pseudo-terminal: input and resize frames in, output frames out.
 *
 * Everything here runs with exactly the sandbox user's rights, so path rules are a contract of
 * the API (relative paths stay in /workspace), not a security boundary.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1
#define LISTEN_FD 3
#define WORKSPACE "/workspace"
#define MAX_REQUEST (1u << 20)  /* request and host data frames */
#define OUT_CHUNK (128u * 1024) /* agent data frames; the host expects at most this */
#define MAX_PROCS 1024

enum {
    REQ_PING = 0x01, REQ_EXEC = 0x02, REQ_SPAWN = 0x03, REQ_PROCS = 0x04, REQ_KILL = 0x05,
    REQ_WRITE = 0x06, REQ_READ = 0x07, REQ_LIST = 0x08, REQ_DELETE = 0x09, REQ_KILL_ALL = 0x0A,
    REQ_CONNECT = 0x0B, REQ_PTY = 0x0C,
    IN_STDIN = 0x10, IN_STDIN_END = 0x11, IN_DATA = 0x12, IN_END = 0x13,
    IN_PTY_INPUT = 0x14, IN_PTY_RESIZE = 0x15,
    REP_OK = 0x80, REP_PONG = 0x81, REP_STDOUT = 0x83, REP_STDERR = 0x84, REP_EXIT = 0x85,
    REP_SPAWNED = 0x86, REP_PROC = 0x87, REP_KILLED = 0x88, REP_DATA = 0x89, REP_ENTRY = 0x8A,
    REP_END = 0x8F, REP_ERROR = 0xFF,
};

/* Error codes: the numbers of SandboxFileError in C#, plus agent-level ones. */
enum {
    E_NOT_FOUND = 1, E_INVALID_PATH = 2, E_READ_ONLY = 3, E_PERMISSION = 4, E_IS_DIR = 5,
    E_NOT_DIR = 6, E_NO_SPACE = 7, E_OTHER = 8, E_BAD_REQUEST = 20, E_BUSY = 21, E_CONNECT = 22,
};

extern char **environ;

/* ---------- small helpers ---------- */

static int64_t now_ms(int clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_us_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int read_full(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == ENOTSOCK) r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r; n -= (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, uint8_t type, const void *payload, uint32_t len) {
    uint8_t hdr[5];
    hdr[0] = type;
    put_u32(hdr + 1, len);
    if (len == 0) return write_full(fd, hdr, 5);
    if (len <= 4096) {
        uint8_t buf[5 + 4096];
        memcpy(buf, hdr, 5);
        memcpy(buf + 5, payload, len);
        return write_full(fd, buf, 5 + len);
    }
    if (write_full(fd, hdr, 5) < 0) return -1;
    return write_full(fd, payload, len);
}

/* A growable payload being built for one frame. */
struct out {
    uint8_t *buf;
    size_t len, cap;
    int failed;
};

static void out_reserve(struct out *o, size_t more) {
    if (o->failed || o->len + more <= o->cap) return;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->len + more) cap *= 2;
    uint8_t *b = realloc(o->buf, cap);
    if (!b) { o->failed = 1; return; }
    o->buf = b; o->cap = cap;
}

static void out_bytes(struct out *o, const void *p, size_t n) {
    out_reserve(o, n);
    if (o->failed) return;
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_u8(struct out *o, uint8_t v) { out_bytes(o, &v, 1); }
static void out_u32(struct out *o, uint32_t v) { uint8_t b[4]; put_u32(b, v); out_bytes(o, b, 4); }
static void out_u64(struct out *o, uint64_t v) { uint8_t b[8]; put_u64(b, v); out_bytes(o, b, 8); }
static void out_str(struct out *o, const char *s) {
    size_t n = strlen(s);
    out_u32(o, (uint32_t)n);
    out_bytes(o, s, n);
}

static int send_out(int fd, uint8_t type, struct out *o) {
    int r = o->failed ? -1 : send_frame(fd, type, o->buf, (uint32_t)o->len);
    free(o->buf);
    memset(o, 0, sizeof *o);
    return r;
}

static void send_error(int fd, int code, int err, const char *message) {
    struct out o = {0};
    out_u8(&o, (uint8_t)code);
    out_u32(&o, (uint32_t)err);
    out_str(&o, message);
    send_out(fd, REP_ERROR, &o);
}

/* Reads a request payload: a cursor with bounds checks; strings come back NUL-terminated. */
struct in {
    const uint8_t *p, *end;
    int bad;
};

static uint32_t in_u32(struct in *in) {
    if (in->end - in->p < 4) { in->bad = 1; return 0; }
    uint32_t v = get_u32(in->p);
    in->p += 4;
    return v;
}

static char *in_str(struct in *in) {
    uint32_t n = in_u32(in);
    if (in->bad || (uint32_t)(in->end - in->p) < n || memchr(in->p, 0, n)) { in->bad = 1; return NULL; }
    char *s = malloc((size_t)n + 1);
    if (!s) { in->bad = 1; return NULL; }
    memcpy(s, in->p, n);
    s[n] = 0;
    in->p += n;
    return s;
}

/* Reads one frame header and payload with a size bound; the caller frees *payload. */
static int read_frame(int fd, uint8_t *type, uint8_t **payload, uint32_t *len, uint32_t max) {
    uint8_t hdr[5];
    if (read_full(fd, hdr, 5) < 0) return -1;
    *type = hdr[0];
    *len = get_u32(hdr + 1);
    if (*len > max) return -1;
    *payload = malloc(*len ? *len : 1);
    if (!*payload) return -1;
    if (*len && read_full(fd, *payload, *len) < 0) { free(*payload); *payload = NULL; return -1; }
    return 0;
}

static void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int file_error(int err) {
    switch (err) {
    case ENOENT: return E_NOT_FOUND;
    case EROFS: return E_READ_ONLY;
    case EACCES: case EPERM: return E_PERMISSION;
    case EISDIR: return E_IS_DIR;
    case ENOTDIR: return E_NOT_DIR;
    case ENOSPC: case EDQUOT: return E_NO_SPACE;
    case ELOOP: case ENAMETOOLONG: case EINVAL: return E_INVALID_PATH;
    default: return E_OTHER;
    }
}

static void send_errno(int fd, int err, const char *what, const char *path) {
    char msg[PATH_MAX + 256];
    snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(err));
    send_error(fd, file_error(err), err, msg);
}

/* ---------- exec requests ---------- */

struct exec_req {
    uint32_t flags, timeout_ms;
    char *cwd;
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated "K=V" */
};

#define EXEC_HAS_STDIN 1u

static void free_strv(char **v) {
    if (!v) return;
    for (char **p = v; *p; p++) free(*p);
    free(v);
}

static void exec_req_free(struct exec_req *r) {
    free(r->cwd);
    free_strv(r->argv);
    free_strv(r->env);
    memset(r, 0, sizeof *r);
}

static char **in_strv(struct in *in) {
    uint32_t n = in_u32(in);
    if (in->bad || n > (uint32_t)(in->end - in->p) / 4) { in->bad = 1; return NULL; }
    char **v = calloc((size_t)n + 1, sizeof(char *));
    if (!v) { in->bad = 1; return NULL; }
    for (uint32_t i = 0; i < n; i++) {
        v[i] = in_str(in);
        if (in->bad) { free_strv(v); return NULL; }
    }
    return v;
}

static int parse_exec(const uint8_t *p, uint32_t len, struct exec_req *r) {
    struct in in = {p, p + len, 0};
    memset(r, 0, sizeof *r);
    r->flags = in_u32(&in);
    r->timeout_ms = in_u32(&in);
    r->cwd = in_str(&in);
    r->argv = in_strv(&in);
    r->env = in_strv(&in);
    if (in.bad || !r->argv || !r->argv[0] || !r->env) { exec_req_free(r); return -1; }
    for (char **e = r->env; *e; e++)
        if (!strchr(*e, '=') || **e == '=') { exec_req_free(r); return -1; }
    return 0;
}

/* The sandbox environment with the request's variables set over it. */
static char **merged_env(char **over) {
    size_t n = 0, m = 0;
    while (environ[n]) n++;
    while (over[m]) m++;
    char **env = calloc(n + m + 1, sizeof(char *));
    if (!env) return environ;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(over[j], environ[i], kl) == 0 && over[j][kl] == '=';
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++) env[k++] = over[j];
    env[k] = NULL;
    return env;
}

static void write_msg(int fd, const char *a, const char *b, const char *c) {
    char msg[PATH_MAX + 512];
    int n = snprintf(msg, sizeof msg, "%s%s%s\n", a, b, c);
    if (n > 0) write_full(fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

/* In a freshly forked child: becomes a plain process of the user and execs, or exits 126/127. */
static void exec_child(struct exec_req *r, int in_fd, int out_fd, int err_fd) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    /* The agent keeps itself out of the OOM killer's way; the user's processes do not. */
    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) { (void)!write(oom, "0", 1); close(oom); }
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    close_range(3, ~0u, 0);
    const char *cwd = r->cwd && r->cwd[0] ? r->cwd : WORKSPACE;
    if (chdir(cwd) < 0) {
        write_msg(2, "miosa: cannot enter working directory ", cwd, errno == ENOENT ? ": No such file or directory" : ": Permission denied");
        _exit(126);
    }
    environ = merged_env(r->env);
    execvp(r->argv[0], r->argv);
    int err = errno;
    if (err == ENOENT) {
        write_msg(2, "miosa: ", r->argv[0], ": command not found");
        _exit(127);
    }
    write_msg(2, "miosa: ", r->argv[0], err == EACCES ? ": Permission denied" : ": cannot execute");
    _exit(126);
}

static int exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

/* Streams one foreground process: stdin frames in, stdout/stderr frames out, as they come. */
static void handle_exec(int sock, const uint8_t *payload, uint32_t len) {
    struct exec_req r;
    if (parse_exec(payload, len, &r) < 0) { send_error(sock, E_BAD_REQUEST, 0, "bad exec request"); return; }
    int outp[2], errp[2], inp[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) { send_error(sock, E_BUSY, errno, "cannot create pipes"); return; }
    int has_stdin = (r.flags & EXEC_HAS_STDIN) != 0;
    if (has_stdin ? pipe2(inp, O_CLOEXEC) < 0 : (inp[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        send_error(sock, E_BUSY, errno, "cannot create pipes");
        return;
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    int64_t started = now_us_mono();
    pid_t pid = fork();
    if (pid < 0) { send_error(sock, E_BUSY, errno, "cannot start process: the sandbox is at its process limit"); return; }
    if (pid == 0) exec_child(&r, inp[0], outp[1], errp[1]);
    close(outp[1]);
    close(errp[1]);
    close(inp[0]);
    int fd_out = outp[0], fd_err = errp[0], fd_in = has_stdin ? inp[1] : -1;
    set_nonblock(fd_out);
    set_nonblock(fd_err);
    if (fd_in >= 0) set_nonblock(fd_in);
    set_nonblock(sock);

    int64_t deadline = r.timeout_ms ? started / 1000 + r.timeout_ms : 0;
    int timed_out = 0, exited = 0, status = 0, hung_up = 0;
    int64_t killed_at = 0, exited_us = 0;

    /* Outgoing frame (header + data) being written to the socket. */
    uint8_t *obuf = malloc(5 + OUT_CHUNK);
    size_t olen = 0, ooff = 0;
    int next_stream = 0;
    /* Incoming stdin: header bytes, then payload bytes of the current frame into ibuf. */
    uint8_t ihdr[5];
    size_t ihdr_len = 0;
    uint32_t iframe_left = 0;
    uint8_t *ibuf = malloc(OUT_CHUNK);
    size_t ilen = 0, ioff = 0;
    int stdin_done = !has_stdin;
    if (!obuf || !ibuf) { kill(-pid, SIGKILL); kill(pid, SIGKILL); hung_up = 1; }

    while (!hung_up) {
        int64_t now = now_us_mono() / 1000;
        /* Done, like ssh or docker exec, when the process has exited and every process holding
         * its stdout/stderr has closed them (detached servers redirect their output). Holders
         * that escaped the process group get one second after a timeout kill. */
        if (timed_out && now >= killed_at + 1000) {
            if (fd_out >= 0) { close(fd_out); fd_out = -1; }
            if (fd_err >= 0) { close(fd_err); fd_err = -1; }
        }
        if (exited && fd_out < 0 && fd_err < 0 && olen == 0) break;
        struct pollfd fds[5];
        int n = 0, i_sock = -1, i_out = -1, i_err = -1, i_in = -1, i_sig = -1;
        short sev = POLLRDHUP;
        if (olen) sev |= POLLOUT;
        /* Read the socket only while stdin has room; after stdin ends only a hang-up can come. */
        if (ilen == 0) sev |= POLLIN;
        fds[n] = (struct pollfd){sock, sev, 0}; i_sock = n++;
        if (olen == 0) {
            if (fd_out >= 0) { fds[n] = (struct pollfd){fd_out, POLLIN, 0}; i_out = n++; }
            if (fd_err >= 0) { fds[n] = (struct pollfd){fd_err, POLLIN, 0}; i_err = n++; }
        }
        if (fd_in >= 0 && ilen > 0) { fds[n] = (struct pollfd){fd_in, POLLOUT, 0}; i_in = n++; }
        if (!exited && sfd >= 0) { fds[n] = (struct pollfd){sfd, POLLIN, 0}; i_sig = n++; }

        int64_t wake = -1;
        if (deadline && !timed_out) wake = deadline;
        if (timed_out && now < killed_at + 1000) wake = killed_at + 1000;
        if (sfd < 0 && !exited && (wake < 0 || wake > now + 10)) wake = now + 10;
        int wait_ms = wake < 0 ? -1 : wake > now ? (int)(wake - now) : 0;
        int pr = poll(fds, (nfds_t)n, wait_ms);
        if (pr < 0 && errno != EINTR) break;

        if (!exited && (pr <= 0 || (i_sig >= 0 && fds[i_sig].revents))) {
            struct signalfd_siginfo si;
            if (sfd >= 0) while (read(sfd, &si, sizeof si) > 0) {}
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) { exited = 1; exited_us = now_us_mono(); }
        }
        now = now_us_mono() / 1000;
        if (deadline && !timed_out && now >= deadline) {
            timed_out = 1;
            killed_at = now;
            kill(-pid, SIGKILL);
            if (!exited) kill(pid, SIGKILL);
        }
        if (pr <= 0) continue;

        short rev = fds[i_sock].revents;
        if (rev & (POLLHUP | POLLERR | POLLRDHUP)) { hung_up = 1; break; }
        if (rev & POLLIN) {
            /* Stdin frames; anything after the end of stdin means the host went away. */
            if (stdin_done) {
                uint8_t junk[256];
                ssize_t k = recv(sock, junk, sizeof junk, 0);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) { hung_up = 1; break; }
            } else if (iframe_left == 0) {
                ssize_t k = recv(sock, ihdr + ihdr_len, 5 - ihdr_len, 0);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) { hung_up = 1; break; }
                if (k > 0) ihdr_len += (size_t)k;
                if (ihdr_len == 5) {
                    ihdr_len = 0;
                    uint32_t fl = get_u32(ihdr + 1);
                    if (ihdr[0] == IN_STDIN_END) {
                        stdin_done = 1;
                        if (fd_in >= 0 && ilen == 0) { close(fd_in); fd_in = -1; }
                    } else if (ihdr[0] == IN_STDIN && fl <= MAX_REQUEST) {
                        iframe_left = fl;
                    } else { hung_up = 1; break; }
                }
            } else {
                size_t want = iframe_left < OUT_CHUNK ? iframe_left : OUT_CHUNK;
                ssize_t k = recv(sock, ibuf, want, 0);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) { hung_up = 1; break; }
                if (k > 0) {
                    iframe_left -= (uint32_t)k;
                    /* A process that closed its stdin just drops what is left. */
                    if (fd_in >= 0) { ilen = (size_t)k; ioff = 0; }
                }
            }
        }
        if (olen && (rev & POLLOUT)) {
            ssize_t k = send(sock, obuf + ooff, olen - ooff, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k < 0 && errno != EAGAIN && errno != EINTR) { hung_up = 1; break; }
            if (k > 0) { ooff += (size_t)k; if (ooff == olen) olen = ooff = 0; }
        }
        if (i_in >= 0 && (fds[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t k = write(fd_in, ibuf + ioff, ilen - ioff);
            if (k > 0) { ioff += (size_t)k; if (ioff == ilen) ilen = ioff = 0; }
            else if (k < 0 && errno != EAGAIN && errno != EINTR) { close(fd_in); fd_in = -1; ilen = ioff = 0; }
            if (fd_in >= 0 && ilen == 0 && stdin_done && iframe_left == 0) { close(fd_in); fd_in = -1; }
        }
        if (olen == 0) {
            /* Alternate between the two streams so neither starves the other. */
            for (int t = 0; t < 2 && olen == 0; t++) {
                int s = (next_stream + t) % 2;
                int idx = s == 0 ? i_out : i_err;
                int *fd = s == 0 ? &fd_out : &fd_err;
                if (idx < 0 || *fd < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                ssize_t k = read(*fd, obuf + 5, OUT_CHUNK);
                if (k > 0) {
                    obuf[0] = s == 0 ? REP_STDOUT : REP_STDERR;
                    put_u32(obuf + 1, (uint32_t)k);
                    olen = 5 + (size_t)k; ooff = 0;
                    next_stream = (s + 1) % 2;
                } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                    close(*fd); *fd = -1;
                }
            }
        }
    }

    if (hung_up || !exited) {
        /* The host is gone (or we are): nobody will read the output, so the process group goes. */
        kill(-pid, SIGKILL);
        if (!exited) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        }
        if (hung_up) return;
    }
    int fl = fcntl(sock, F_GETFL);
    if (fl >= 0) fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
    uint8_t fin[13];
    put_u32(fin, (uint32_t)exit_code(status));
    fin[4] = (uint8_t)timed_out;
    put_u64(fin + 5, (uint64_t)((exited_us ? exited_us : now_us_mono()) - started));
    send_frame(sock, REP_EXIT, fin, sizeof fin);
}

/* ---------- background processes (PID 1 only) ---------- */

struct proc {
    pid_t pid;
    int64_t started_ms;
    int running, exit_code;
    char **argv;
};

static struct proc procs[MAX_PROCS];
static int nprocs;

static void procs_reaped(pid_t pid, int status) {
    for (int i = 0; i < nprocs; i++)
        if (procs[i].pid == pid && procs[i].running) {
            procs[i].running = 0;
            procs[i].exit_code = exit_code(status);
        }
}

/* Makes room by forgetting the oldest finished process; -1 when all are still running. */
static int procs_slot(void) {
    if (nprocs < MAX_PROCS) return nprocs++;
    for (int i = 0; i < nprocs; i++)
        if (!procs[i].running) {
            free_strv(procs[i].argv);
            memmove(&procs[i], &procs[i + 1], (size_t)(nprocs - i - 1) * sizeof procs[0]);
            return nprocs - 1;
        }
    return -1;
}

static void handle_spawn(int sock, const uint8_t *payload, uint32_t len) {
    struct exec_req r;
    if (parse_exec(payload, len, &r) < 0) { send_error(sock, E_BAD_REQUEST, 0, "bad exec request"); return; }
    int slot = procs_slot();
    if (slot < 0) { exec_req_free(&r); send_error(sock, E_BUSY, 0, "too many background processes"); return; }
    pid_t pid = fork();
    if (pid < 0) {
        nprocs--;
        exec_req_free(&r);
        send_error(sock, E_BUSY, errno, "cannot start process: the sandbox is at its process limit");
        return;
    }
    if (pid == 0) {
        char log[64];
        snprintf(log, sizeof log, "/tmp/miosa-process-%d.log", (int)getpid());
        int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (lfd < 0) lfd = nul;
        exec_child(&r, nul, lfd, lfd);
    }
    procs[slot] = (struct proc){pid, now_ms(CLOCK_REALTIME), 1, 0, r.argv};
    r.argv = NULL;
    exec_req_free(&r);
    uint8_t b[4];
    put_u32(b, (uint32_t)pid);
    send_frame(sock, REP_SPAWNED, b, 4);
}

static void handle_procs(int sock) {
    for (int i = 0; i < nprocs; i++) {
        struct out o = {0};
        out_u32(&o, (uint32_t)procs[i].pid);
        out_u64(&o, (uint64_t)procs[i].started_ms);
        out_u8(&o, (uint8_t)procs[i].running);
        out_u32(&o, (uint32_t)procs[i].exit_code);
        uint32_t argc = 0;
        while (procs[i].argv[argc]) argc++;
        out_u32(&o, argc);
        for (uint32_t a = 0; a < argc; a++) out_str(&o, procs[i].argv[a]);
        if (send_out(sock, REP_PROC, &o) < 0) return;
    }
    send_frame(sock, REP_END, NULL, 0);
}

static void handle_kill(int sock, const uint8_t *payload, uint32_t len) {
    uint8_t found = 0;
    if (len == 4) {
        pid_t pid = (pid_t)get_u32(payload);
        for (int i = 0; i < nprocs; i++)
            if (procs[i].pid == pid) {
                found = 1;
                if (procs[i].running) { kill(-pid, SIGKILL); kill(pid, SIGKILL); }
            }
    }
    send_frame(sock, REP_KILLED, &found, 1);
}

/* ---------- paths ---------- */

struct resolved {
    char path[PATH_MAX];
    int missing; /* some trailing components do not exist */
};

static int append(char *cur, const char *c, size_t cl) {
    size_t l = strlen(cur);
    if (l + 1 + cl + 1 > PATH_MAX) return -1;
    if (l > 1) cur[l++] = '/';
    memcpy(cur + l, c, cl);
    cur[l + cl] = 0;
    return 0;
}

static void pop(char *cur) {
    char *s = strrchr(cur, '/');
    if (s == cur) cur[1] = 0; else if (s) *s = 0;
}

static int inside_workspace(const char *path) {
    size_t wl = strlen(WORKSPACE);
    return strncmp(path, WORKSPACE, wl) == 0 && (path[wl] == 0 || path[wl] == '/');
}

static int escapes_lexically(const char *path) {
    int depth = 0;
    for (const char *p = path; *p;) {
        while (*p == '/') p++;
        const char *c = p;
        while (*p && *p != '/') p++;
        size_t cl = (size_t)(p - c);
        if (cl == 2 && c[0] == '.' && c[1] == '.') { if (--depth < 0) return 1; }
        else if (cl > 0 && !(cl == 1 && c[0] == '.')) depth++;
    }
    return 0;
}

/*
 * Resolves like realpath(3), following symlinks one component at a time, but lets the tail be
 * missing when allow_missing (for writes) and keeps a final symlink when !follow_last (delete).
 * Relative paths start at /workspace and must end inside it. Returns 0 or an E_* code.
 */
static int resolve(const char *in, int allow_missing, int follow_last, struct resolved *out, int *err) {
    char rest[PATH_MAX * 2];
    char *cur = out->path;
    int relative = in[0] != '/';
    int hops = 0;
    *err = 0;
    out->missing = 0;
    if (strlen(in) >= PATH_MAX) { *err = ENAMETOOLONG; return E_INVALID_PATH; }
    /* A relative path that climbs out by its own ".." is invalid whatever exists on the way. */
    if (relative && escapes_lexically(in)) { *err = EPERM; return E_INVALID_PATH; }
    strcpy(cur, relative ? WORKSPACE : "/");
    strcpy(rest, in);
    char *p = rest;
    while (*p) {
        while (*p == '/') p++;
        if (!*p) break;
        char *c = p;
        while (*p && *p != '/') p++;
        size_t cl = (size_t)(p - c);
        if (cl == 1 && c[0] == '.') continue;
        if (cl == 2 && c[0] == '.' && c[1] == '.') {
            if (out->missing) { *err = ENOENT; return E_NOT_FOUND; }
            pop(cur);
            continue;
        }
        if (append(cur, c, cl) < 0) { *err = ENAMETOOLONG; return E_INVALID_PATH; }
        if (out->missing) continue;
        const char *q = p;
        while (*q == '/') q++;
        int last = *q == 0;
        struct stat st;
        if (lstat(cur, &st) < 0) {
            if (errno == ENOENT && allow_missing) { out->missing = 1; continue; }
            *err = errno;
            if (relative && !inside_workspace(cur)) { *err = EPERM; return E_INVALID_PATH; }
            return file_error(errno);
        }
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++hops > 40) { *err = ELOOP; return E_INVALID_PATH; }
            char target[PATH_MAX];
            ssize_t tl = readlink(cur, target, sizeof target - 1);
            if (tl < 0) { *err = errno; return file_error(errno); }
            target[tl] = 0;
            size_t restl = strlen(p);
            if ((size_t)tl + 1 + restl + 1 > sizeof rest) { *err = ENAMETOOLONG; return E_INVALID_PATH; }
            /* rest = target + "/" + what is left after the link (lengths checked above) */
            memmove(rest + tl + 1, p, restl + 1);
            memcpy(rest, target, (size_t)tl);
            rest[tl] = '/';
            p = rest;
            if (target[0] == '/') strcpy(cur, "/"); else pop(cur);
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            *err = ENOTDIR;
            if (relative && !inside_workspace(cur)) { *err = EPERM; return E_INVALID_PATH; }
            return E_NOT_DIR;
        }
    }
    if (relative && !inside_workspace(cur)) { *err = EPERM; return E_INVALID_PATH; }
    return 0;
}

static int resolve_or_reply(int sock, const char *path, int allow_missing, int follow_last, struct resolved *r) {
    int err;
    int code = resolve(path, allow_missing, follow_last, r, &err);
    if (code == 0) return 0;
    char msg[PATH_MAX + 128];
    if (code == E_INVALID_PATH && err == EPERM)
        snprintf(msg, sizeof msg, "%s: path leaves /workspace", path);
    else
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(err));
    send_error(sock, code, err, msg);
    return -1;
}

static char *request_path(int sock, const uint8_t *payload, uint32_t len) {
    struct in in = {payload, payload + len, 0};
    char *path = in_str(&in);
    if (in.bad || !path || !path[0]) {
        free(path);
        send_error(sock, E_INVALID_PATH, EINVAL, "empty or malformed path");
        return NULL;
    }
    return path;
}

/* mkdir -p for the parents of path (already resolved and absolute). */
static int make_parents(const char *path) {
    char tmp[PATH_MAX];
    strcpy(tmp, path);
    for (char *s = tmp + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    return 0;
}

/* ---------- files ---------- */

static void handle_write(int sock, const uint8_t *payload, uint32_t len) {
    char *path = request_path(sock, payload, len);
    if (!path) return;
    struct resolved r;
    if (resolve_or_reply(sock, path, 1, 1, &r) < 0) { free(path); return; }
    struct stat st;
    int exists = !r.missing && stat(r.path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) { send_errno(sock, EISDIR, "cannot write", path); free(path); return; }
    if (r.missing && make_parents(r.path) < 0) { send_errno(sock, errno, "cannot create parents of", path); free(path); return; }
    /* Write beside the target, then rename: readers never see half a file. */
    char tmp[PATH_MAX + 64];
    char *slash = strrchr(r.path, '/');
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        /* Short name: the target's own name may already be near NAME_MAX. */
        snprintf(tmp, sizeof tmp, "%.*s/.miosa-upload-%d-%d", (int)(slash - r.path), r.path, (int)getpid(), attempt);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) { send_errno(sock, errno, "cannot write", path); free(path); return; }
    if (exists) fchmod(fd, st.st_mode & 07777);
    if (send_frame(sock, REP_OK, NULL, 0) < 0) { unlink(tmp); close(fd); free(path); return; }
    uint8_t *buf = malloc(MAX_REQUEST);
    int failed = 0, done = 0;
    while (buf && !failed && !done) {
        uint8_t hdr[5];
        if (read_full(sock, hdr, 5) < 0) { failed = -1; break; }
        uint32_t n = get_u32(hdr + 1);
        if (hdr[0] == IN_END) { done = 1; break; }
        if (hdr[0] != IN_DATA || n > MAX_REQUEST) { failed = -1; break; }
        if (read_full(sock, buf, n) < 0) { failed = -1; break; }
        for (uint32_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, n - off);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) { failed = errno; break; }
            off += (uint32_t)w;
        }
    }
    free(buf);
    if (done && close(fd) < 0) failed = errno;
    else if (!done) close(fd);
    if (done && !failed && rename(tmp, r.path) < 0) failed = errno;
    if (failed || !done) unlink(tmp);
    if (failed > 0) send_errno(sock, failed, "cannot write", path);
    else if (done && !failed) send_frame(sock, REP_OK, NULL, 0);
    free(path);
}

static void handle_read(int sock, const uint8_t *payload, uint32_t len) {
    char *path = request_path(sock, payload, len);
    if (!path) return;
    struct resolved r;
    if (resolve_or_reply(sock, path, 0, 1, &r) < 0) { free(path); return; }
    /* O_NONBLOCK: a FIFO must not hang the open; it is refused below anyway. */
    int fd = open(r.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) { send_errno(sock, errno, "cannot read", path); free(path); return; }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) send_errno(sock, EISDIR, "cannot read", path);
        else send_error(sock, E_OTHER, EINVAL, "not a regular file");
        close(fd); free(path); return;
    }
    free(path);
    uint8_t sz[8];
    put_u64(sz, (uint64_t)st.st_size);
    if (send_frame(sock, REP_OK, sz, 8) < 0) { close(fd); return; }
    uint8_t *buf = malloc(5 + OUT_CHUNK);
    if (!buf) { close(fd); return; }
    for (;;) {
        ssize_t k = read(fd, buf + 5, OUT_CHUNK);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { send_errno(sock, errno, "cannot read", r.path); break; }
        if (k == 0) { send_frame(sock, REP_END, NULL, 0); break; }
        buf[0] = REP_DATA;
        put_u32(buf + 1, (uint32_t)k);
        if (write_full(sock, buf, 5 + (size_t)k) < 0) break;
    }
    free(buf);
    close(fd);
}

static void handle_list(int sock, const uint8_t *payload, uint32_t len) {
    char *path = request_path(sock, payload, len);
    if (!path) return;
    struct resolved r;
    if (resolve_or_reply(sock, path, 0, 1, &r) < 0) { free(path); return; }
    DIR *d = opendir(r.path);
    if (!d) { send_errno(sock, errno, "cannot list", path); free(path); return; }
    free(path);
    if (send_frame(sock, REP_OK, NULL, 0) < 0) { closedir(d); return; }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        char full[PATH_MAX + 256];
        snprintf(full, sizeof full, "%s%s%s", r.path, strcmp(r.path, "/") ? "/" : "", e->d_name);
        struct out o = {0};
        out_u8(&o, S_ISDIR(st.st_mode) ? 1 : S_ISLNK(st.st_mode) ? 2 : S_ISREG(st.st_mode) ? 0 : 3);
        out_u64(&o, (uint64_t)st.st_size);
        out_u32(&o, st.st_mode & 07777);
        out_u64(&o, (uint64_t)((int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000));
        out_str(&o, e->d_name);
        out_str(&o, full);
        if (send_out(sock, REP_ENTRY, &o) < 0) { closedir(d); return; }
    }
    closedir(d);
    send_frame(sock, REP_END, NULL, 0);
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)ftw;
    return (flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT ? -1 : 0;
}

static void handle_delete(int sock, const uint8_t *payload, uint32_t len) {
    char *path = request_path(sock, payload, len);
    if (!path) return;
    struct resolved r;
    if (resolve_or_reply(sock, path, 0, 0, &r) < 0) { free(path); return; }
    if (!strcmp(r.path, "/") || !strcmp(r.path, WORKSPACE)) {
        send_error(sock, E_INVALID_PATH, EBUSY, "refusing to delete the workspace or root");
        free(path); return;
    }
    struct stat st;
    int rc;
    if (lstat(r.path, &st) < 0) rc = -1;
    else if (S_ISDIR(st.st_mode)) rc = nftw(r.path, remove_entry, 32, FTW_DEPTH | FTW_PHYS);
    else rc = unlink(r.path);
    if (rc < 0) send_errno(sock, errno, "cannot delete", path);
    else send_frame(sock, REP_OK, NULL, 0);
    free(path);
}

/* ---------- port connections ---------- */

/* One direction of a bridge: bytes move src -> kernel pipe -> dst with splice, never through us. */
struct flow {
    int src, dst;
    int pipe[2];
    size_t queued, cap;   /* bytes in the pipe, and its capacity */
    int src_done, closed; /* src reached EOF (or failed); dst's write side was shut down */
};

static int flow_init(struct flow *f, int src, int dst) {
    memset(f, 0, sizeof *f);
    f->src = src;
    f->dst = dst;
    if (pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK) < 0) return -1;
    fcntl(f->pipe[1], F_SETPIPE_SZ, 256 * 1024); /* best effort: fewer wake-ups for bulk bodies */
    int cap = fcntl(f->pipe[1], F_GETPIPE_SZ);
    f->cap = cap > 0 ? (size_t)cap : 65536;
    return 0;
}

/* Moves what it can without blocking; a peer that stops reading ends this direction. */
static void flow_step(struct flow *f, short src_rev, short dst_rev) {
    if (!f->src_done && f->queued < f->cap && (src_rev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = splice(f->src, NULL, f->pipe[1], NULL, f->cap - f->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) f->queued += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR)) f->src_done = 1;
    }
    if (f->queued > 0 && (dst_rev & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = splice(f->pipe[0], NULL, f->dst, NULL, f->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) f->queued -= (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            /* The reader is gone: drop what is queued and stop reading its source. */
            f->src_done = 1;
            f->queued = 0;
            shutdown(f->src, SHUT_RD);
        }
    }
    if (f->src_done && f->queued == 0 && !f->closed) {
        shutdown(f->dst, SHUT_WR); /* half-close: the other side sees EOF, its answer still flows */
        f->closed = 1;
    }
}

/*
 * Connects to 127.0.0.1:port in the sandbox's network namespace, answers OK (or an E_CONNECT
 * error carrying errno, e.g. ECONNREFUSED when nothing listens), then pipes bytes both ways until
 * both directions reached EOF, or the host hung up.
 */
static void handle_connect(int sock, const uint8_t *payload, uint32_t len) {
    struct in in = {payload, payload + len, 0};
    uint32_t port = in_u32(&in);
    if (in.bad || port < 1 || port > 65535) { send_error(sock, E_BAD_REQUEST, EINVAL, "port must be 1-65535"); return; }
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0) { send_error(sock, E_BUSY, errno, "cannot create a socket"); return; }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc;
    do rc = connect(tcp, (struct sockaddr *)&addr, sizeof addr); while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        char msg[128];
        int err = errno;
        snprintf(msg, sizeof msg, "connect 127.0.0.1:%u: %s", port, strerror(err));
        send_error(sock, E_CONNECT, err, msg);
        close(tcp);
        return;
    }
    int one = 1;
    setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (send_frame(sock, REP_OK, NULL, 0) < 0) { close(tcp); return; }

    struct flow up, down; /* up: host -> app, down: app -> host */
    if (flow_init(&up, sock, tcp) < 0 || flow_init(&down, tcp, sock) < 0) { close(tcp); return; }
    set_nonblock(sock);
    set_nonblock(tcp);
    while (!(up.closed && down.closed)) {
        /* A side that is neither read nor written any more leaves the poll set (no hang-up spin). */
        int need_sock = !(up.src_done && down.closed), need_tcp = !(down.src_done && up.closed);
        struct pollfd fds[2] = {{need_sock ? sock : -1, 0, 0}, {need_tcp ? tcp : -1, 0, 0}};
        if (!up.src_done && up.queued < up.cap) fds[0].events |= POLLIN;
        if (down.queued > 0) fds[0].events |= POLLOUT;
        if (!down.src_done && down.queued < down.cap) fds[1].events |= POLLIN;
        if (up.queued > 0) fds[1].events |= POLLOUT;
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        /* The host closed its end entirely (not a half-close) after its last byte: nobody is left
         * to read an answer. */
        if ((fds[0].revents & (POLLHUP | POLLERR)) && up.src_done) break;
        /* The app's socket is dead both ways: what the host still sends cannot be delivered. */
        if ((fds[1].revents & (POLLHUP | POLLERR)) && down.src_done) { up.src_done = 1; up.queued = 0; }
        flow_step(&up, fds[0].revents, fds[1].revents);
        flow_step(&down, fds[1].revents, fds[0].revents);
    }
    close(tcp);
}

/* ---------- terminals ---------- */

#define PTY_FRAME_MAX (64u * 1024) /* input frames from the host */
#define PTY_DRAIN_MS 2000          /* after the shell exits: output still on its way */

/* SIGKILLs every live process of a session (a terminal's shell, its jobs, their children); a few
 * passes, since a process may fork while the first pass runs. Zombies are already gone. */
static void kill_session(pid_t sid) {
    for (int pass = 0; pass < 50; pass++) {
        DIR *d = opendir("/proc");
        if (!d) return;
        int found = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            char *end;
            long p = strtol(e->d_name, &end, 10);
            if (*end || p <= 1 || p == getpid()) continue;
            char path[64], stat_line[512];
            snprintf(path, sizeof path, "/proc/%ld/stat", p);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            ssize_t n = read(fd, stat_line, sizeof stat_line - 1);
            close(fd);
            if (n <= 0) continue;
            stat_line[n] = 0;
            /* pid (comm) state ppid pgrp session ...: comm may hold anything, so parse after its last ')'. */
            char *rp = strrchr(stat_line, ')');
            char state;
            int ppid, pgrp, session;
            if (!rp || sscanf(rp + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) != 4) continue;
            if (session == sid && state != 'Z' && state != 'X') { kill((pid_t)p, SIGKILL); found = 1; }
        }
        closedir(d);
        if (!found) return;
        poll(NULL, 0, 1);
    }
}

/* The terminal side of a new pseudo-terminal, opened through the master (no /dev/pts lookup) when the kernel can. */
static int open_pty_peer(int master) {
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
    int fd = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 || errno != EINVAL) return fd;
    char name[64];
    if (ptsname_r(master, name, sizeof name) != 0) return -1;
    return open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

/*
 * A terminal: [u32 cols][u32 rows] + an exec request. Runs the command as the leader of a new
 * session on a fresh pseudo-terminal (its controlling terminal), answers OK with its pid, then
 * streams: host IN_PTY_INPUT (bytes for the terminal) and IN_PTY_RESIZE ([u32 cols][u32 rows])
 * frames in, REP_STDOUT frames out (the terminal's output, stdout and stderr alike), and REP_EXIT
 * when the command has exited and its output is drained. Whatever is left of its session is
 * killed when it exits, and everything of it when the host hangs up.
 */
static void handle_pty(int sock, const uint8_t *payload, uint32_t len) {
    struct in in = {payload, payload + len, 0};
    uint32_t cols = in_u32(&in), rows = in_u32(&in);
    if (in.bad || cols < 1 || cols > 0xFFFF || rows < 1 || rows > 0xFFFF) {
        send_error(sock, E_BAD_REQUEST, EINVAL, "bad terminal size");
        return;
    }
    struct exec_req r;
    if (parse_exec(in.p, (uint32_t)(in.end - in.p), &r) < 0) { send_error(sock, E_BAD_REQUEST, 0, "bad terminal request"); return; }
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) { send_error(sock, E_BUSY, errno, "cannot open a pseudo-terminal"); return; }
    int slave = unlockpt(master) < 0 ? -1 : open_pty_peer(master);
    if (slave < 0) { send_error(sock, E_BUSY, errno, "cannot open a pseudo-terminal"); close(master); return; }
    struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
    ioctl(master, TIOCSWINSZ, &ws);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    int64_t started = now_us_mono();
    pid_t pid = fork();
    if (pid < 0) { send_error(sock, E_BUSY, errno, "cannot start process: the sandbox is at its process limit"); return; }
    if (pid == 0) {
        /* New session, this terminal as its controlling one; exec_child's own setsid then fails harmlessly. */
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        exec_child(&r, slave, slave, slave);
    }
    close(slave);
    uint8_t pidb[4];
    put_u32(pidb, (uint32_t)pid);
    int hung_up = send_frame(sock, REP_OK, pidb, 4) < 0;
    set_nonblock(master);
    set_nonblock(sock);

    uint8_t *obuf = malloc(5 + OUT_CHUNK); /* an output frame being sent */
    size_t olen = 0, ooff = 0;
    uint8_t *rbuf = malloc(5 + PTY_FRAME_MAX); /* frames from the host, parsed from the front */
    size_t rlen = 0, ioff = 0;                 /* ioff: bytes of the front input frame already written */
    int exited = 0, status = 0, master_eof = 0;
    int64_t exited_us = 0, drain_until = 0;
    if (!obuf || !rbuf) hung_up = 1;

    while (!hung_up) {
        /* Frames at the front: resizes apply at once, input goes to the terminal as it takes it. */
        int input_blocked = 0;
        while (rlen >= 5) {
            uint8_t t = rbuf[0];
            uint32_t n = get_u32(rbuf + 1);
            if (n > PTY_FRAME_MAX || (t != IN_PTY_INPUT && t != IN_PTY_RESIZE)) { hung_up = 1; break; }
            if (rlen < 5 + n) break;
            if (t == IN_PTY_RESIZE) {
                struct in rs = {rbuf + 5, rbuf + 5 + n, 0};
                uint32_t c = in_u32(&rs), w = in_u32(&rs);
                if (!rs.bad && c >= 1 && c <= 0xFFFF && w >= 1 && w <= 0xFFFF) {
                    struct winsize nws = {(unsigned short)w, (unsigned short)c, 0, 0};
                    ioctl(master, TIOCSWINSZ, &nws); /* the kernel tells the foreground job (SIGWINCH) */
                }
                ioff = n;
            } else if (ioff < n && !master_eof) {
                ssize_t k = write(master, rbuf + 5 + ioff, n - ioff);
                if (k > 0) ioff += (size_t)k;
                else if (k < 0 && errno != EAGAIN && errno != EINTR) ioff = n; /* terminal gone: drop */
                if (ioff < n) { input_blocked = 1; break; }
            } else {
                ioff = n;
            }
            memmove(rbuf, rbuf + 5 + n, rlen - 5 - n);
            rlen -= 5 + n;
            ioff = 0;
        }
        if (hung_up) break;
        int64_t now = now_us_mono() / 1000;
        /* Done when the command exited and its terminal is drained: every holder closed it, or the
         * drain time is up (a process that left the session still holds it). */
        if (exited && olen == 0 && (master_eof || now >= drain_until)) break;

        struct pollfd fds[3];
        int n = 0, i_master = -1, i_sig = -1;
        short sev = POLLRDHUP;
        if (!input_blocked && rlen < 5 + PTY_FRAME_MAX) sev |= POLLIN;
        if (olen) sev |= POLLOUT;
        fds[n++] = (struct pollfd){sock, sev, 0};
        short mev = 0;
        if (!master_eof && olen == 0) mev |= POLLIN;
        if (!master_eof && input_blocked) mev |= POLLOUT;
        if (mev) { fds[n] = (struct pollfd){master, mev, 0}; i_master = n++; }
        if (!exited && sfd >= 0) { fds[n] = (struct pollfd){sfd, POLLIN, 0}; i_sig = n++; }
        /* After the exit: output still to send waits for the host, else the drain time bounds the wait. */
        int wait_ms = exited ? (olen ? -1 : (int)(drain_until > now ? drain_until - now : 0)) : sfd < 0 ? 10 : -1;
        int pr = poll(fds, (nfds_t)n, wait_ms);
        if (pr < 0 && errno != EINTR) break;

        if (!exited && (pr <= 0 || (i_sig >= 0 && fds[i_sig].revents))) {
            struct signalfd_siginfo si;
            if (sfd >= 0) while (read(sfd, &si, sizeof si) > 0) {}
            if (waitpid(pid, &status, WNOHANG) == pid) {
                exited = 1;
                exited_us = now_us_mono();
                drain_until = exited_us / 1000 + PTY_DRAIN_MS;
                /* The session ends with its shell: jobs left behind would hold the terminal open. */
                kill_session(pid);
            }
        }
        if (pr <= 0) continue;

        short rev = fds[0].revents;
        if (rev & (POLLHUP | POLLERR | POLLRDHUP)) { hung_up = 1; break; }
        if (rev & POLLIN) {
            ssize_t k = recv(sock, rbuf + rlen, 5 + PTY_FRAME_MAX - rlen, 0);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) { hung_up = 1; break; }
            if (k > 0) rlen += (size_t)k;
        }
        if (olen && (rev & POLLOUT)) {
            ssize_t k = send(sock, obuf + ooff, olen - ooff, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k < 0 && errno != EAGAIN && errno != EINTR) { hung_up = 1; break; }
            if (k > 0) { ooff += (size_t)k; if (ooff == olen) olen = ooff = 0; }
        }
        if (i_master >= 0 && olen == 0 && (fds[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t k = read(master, obuf + 5, OUT_CHUNK);
            if (k > 0) {
                obuf[0] = REP_STDOUT;
                put_u32(obuf + 1, (uint32_t)k);
                olen = 5 + (size_t)k;
                ooff = 0;
            } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                master_eof = 1; /* EIO: no process holds the terminal any more */
            }
        }
    }

    free(obuf);
    free(rbuf);
    close(master);
    if (hung_up || !exited) {
        /* Nobody is left to use the terminal: its shell and everything it started go. */
        kill_session(pid);
        kill(-pid, SIGKILL);
        if (!exited) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        }
        if (hung_up) return;
    }
    int fl = fcntl(sock, F_GETFL);
    if (fl >= 0) fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
    uint8_t fin[13];
    put_u32(fin, (uint32_t)exit_code(status));
    fin[4] = 0;
    put_u64(fin + 5, (uint64_t)((exited_us ? exited_us : now_us_mono()) - started));
    send_frame(sock, REP_EXIT, fin, sizeof fin);
}

/* ---------- PID 1 ---------- */

static void reap(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) procs_reaped(pid, status);
}

/*
 * Inline in PID 1, so it works even when a fork bomb holds every pid: from the namespace's init,
 * kill(-1) reaches every process but init itself, and no fork slips past it. Every process here
 * descends from init, so once all are reaped (bounded wait) the sandbox's pids are free again.
 */
static void kill_all(void) {
    kill(-1, SIGKILL);
    int64_t until = now_us_mono() / 1000 + 2000;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) { procs_reaped(pid, status); continue; }
        if ((pid < 0 && errno == ECHILD) || now_us_mono() / 1000 >= until) return;
        poll(NULL, 0, 1);
    }
}

static void serve_connection(int conn, int sfd) {
    struct timeval tv = {1, 0}; /* PID 1 reads small requests inline: a silent client must not stall it */
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    uint8_t type, *payload = NULL;
    uint32_t len;
    if (read_frame(conn, &type, &payload, &len, MAX_REQUEST) < 0) return;
    switch (type) {
    case REQ_PING: {
        uint8_t v[4];
        put_u32(v, PROTOCOL_VERSION);
        send_frame(conn, REP_PONG, v, 4);
        break;
    }
    case REQ_SPAWN: handle_spawn(conn, payload, len); break;
    case REQ_PROCS: handle_procs(conn); break;
    case REQ_KILL: handle_kill(conn, payload, len); break;
    case REQ_KILL_ALL: kill_all(); send_frame(conn, REP_OK, NULL, 0); break;
    case REQ_EXEC: case REQ_WRITE: case REQ_READ: case REQ_LIST: case REQ_DELETE: case REQ_CONNECT: case REQ_PTY: {
        pid_t pid = fork();
        if (pid < 0) { send_error(conn, E_BUSY, errno, "the sandbox is at its process limit"); break; }
        if (pid == 0) {
            close(LISTEN_FD);
            close(sfd);
            struct timeval none = {0, 0};
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
            setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
            if (type == REQ_EXEC) handle_exec(conn, payload, len);
            else if (type == REQ_WRITE) handle_write(conn, payload, len);
            else if (type == REQ_READ) handle_read(conn, payload, len);
            else if (type == REQ_LIST) handle_list(conn, payload, len);
            else if (type == REQ_CONNECT) handle_connect(conn, payload, len);
            else if (type == REQ_PTY) handle_pty(conn, payload, len);
            else handle_delete(conn, payload, len);
            _exit(0);
        }
        break;
    }
    default: send_error(conn, E_BAD_REQUEST, 0, "unknown request"); break;
    }
    free(payload);
}

int main(void) {
    struct stat st;
    int type = 0;
    socklen_t tl = sizeof type;
    if (fstat(LISTEN_FD, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(LISTEN_FD, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
        static const char msg[] = "miosa-init: fd 3 must be the agent's listening socket\n";
        (void)!write(2, msg, sizeof msg - 1);
        return 2;
    }
    fcntl(LISTEN_FD, F_SETFD, FD_CLOEXEC);
    umask(022);
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    /* Nothing of the host's (its log pipes) stays reachable through /proc/1/fd. */
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0); dup2(nul, 1); dup2(nul, 2);
        if (nul > 2) close(nul);
    }
    if (chdir(WORKSPACE) < 0) (void)!chdir("/");

    for (;;) {
        struct pollfd fds[2] = {{LISTEN_FD, POLLIN, 0}, {sfd, POLLIN, 0}};
        int r = poll(fds, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 100);
        if (sfd >= 0 && fds[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0) {}
        }
        reap();
        if (r <= 0 || !(fds[0].revents & POLLIN)) continue;
        int conn = accept4(LISTEN_FD, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            /* Out of fds or memory: back off briefly instead of spinning. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) poll(NULL, 0, 10);
            continue;
        }
        serve_connection(conn, sfd);
        close(conn);
    }
}
