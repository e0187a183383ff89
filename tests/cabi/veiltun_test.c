/*
 * veiltun_test: drives libveiltun.so through veiltun.h as a C host would (tests/interop/cabi.sh builds and runs it
 * inside a network namespace, with a wireguard-go peer in another).
 *
 *   veiltun_test CONFIG_FILE TUN_NAME PEER_IP PEER_PUBLIC_KEY_HEX SETUP_COMMAND
 *
 * It opens the TUN itself (TUNSETIFF, IFF_TUN | IFF_NO_PI), runs SETUP_COMMAND (the script's `ip addr add ...; ip
 * link set ... up`), hands the descriptor to veiltun_turn_on with CONFIG_FILE's wg(8) text, pings PEER_IP through
 * it, reads the configuration back, changes it, bumps the sockets, turns off, and does it all a second time; then
 * compares descriptors and threads after the second turn-off with those after the first. Also: bad input (a bad
 * configuration, a descriptor that is not a TUN, stale and invalid handles) gives negative codes and log lines.
 * Prints one "PASS name" or "FAIL name: why" line per check on stdout; log lines go to stderr. Exits 0 iff no check
 * failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "veiltun.h"

static int passed, failed;

static void check(int ok, const char *name, const char *why_format, ...)
{
    if (ok) {
        passed++;
        printf("PASS cabi-%s\n", name);
    } else {
        va_list args;
        failed++;
        printf("FAIL cabi-%s: ", name);
        va_start(args, why_format);
        vprintf(why_format, args);
        va_end(args);
        printf("\n");
    }
    fflush(stdout);
}

/* ---- log callback: every line to stderr; counts and the last error line kept for checks ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_lines, log_errors;
static char last_error[512];

static void on_log(void *context, int level, const char *message)
{
    pthread_mutex_lock(&log_lock);
    log_lines++;
    if (level >= VEILTUN_LOG_ERROR) {
        log_errors++;
        snprintf(last_error, sizeof last_error, "%s", message);
    }
    fprintf(stderr, "# %s[%d] %s\n", (const char *)context, level, message);
    pthread_mutex_unlock(&log_lock);
}

static int errors_logged(void)
{
    pthread_mutex_lock(&log_lock);
    int n = log_errors;
    pthread_mutex_unlock(&log_lock);
    return n;
}

/* ---- protect callback: records what it was given, as VpnService.protect would be called ---- */

static pthread_mutex_t protect_lock = PTHREAD_MUTEX_INITIALIZER;
static int protect_calls, protect_last_fd = -1, protect_bad_type;

static int on_protect(void *context, int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    (void)context;
    pthread_mutex_lock(&protect_lock);
    protect_calls++;
    protect_last_fd = fd;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM) protect_bad_type++;
    pthread_mutex_unlock(&protect_lock);
    return 0;
}

static int refuse_protect(void *context, int fd)
{
    (void)context;
    (void)fd;
    return -1;
}

static int protects(void)
{
    pthread_mutex_lock(&protect_lock);
    int n = protect_calls;
    pthread_mutex_unlock(&protect_lock);
    return n;
}

/* ---- helpers ---- */

static int open_tun(const char *name)
{
    struct ifreq ifr;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0 ? 1 : 0); /* opendir's own descriptor */
}

/* The names of this process's threads, for the log: which thread came or went. */
static void list_threads(const char *when)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    fprintf(stderr, "# threads %s:", when);
    while (d && (e = readdir(d)) != NULL) {
        char path[300], comm[64] = "?";
        FILE *f;
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
            fclose(f);
        }
        fprintf(stderr, " %s", comm);
    }
    if (d) closedir(d);
    fprintf(stderr, "\n");
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Descriptors and threads once they stop changing: the same for 1 s (at most 5 s). A thread the tunnel joined may
 * still be a task for a moment while it exits; one that never ends keeps the count up. */
static void settle(int *fds, int *threads)
{
    int same = 0;
    *fds = count_dir("/proc/self/fd");
    *threads = count_dir("/proc/self/task");
    for (int i = 0; i < 50 && same < 10; i++) {
        sleep_ms(100);
        int f = count_dir("/proc/self/fd"), t = count_dir("/proc/self/task");
        same = f == *fds && t == *threads ? same + 1 : 0;
        *fds = f;
        *threads = t;
    }
}

static int is_closed(int fd) { return fcntl(fd, F_GETFD) < 0 && errno == EBADF; }

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc((size_t)n + 1, 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

/* The value of "key=" in the lines of the peer section that starts with public_key=PEER, or NULL. */
static const char *peer_value(const char *config, const char *peer_hex, const char *key, char *value, size_t size)
{
    char start[128];
    const char *p, *end;
    size_t klen = strlen(key);
    snprintf(start, sizeof start, "public_key=%s\n", peer_hex);
    p = strstr(config, start);
    if (!p) return NULL;
    p += strlen(start);
    end = strstr(p, "public_key=");
    for (const char *line = p; *line && (!end || line < end);) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            snprintf(value, size, "%.*s", (int)(len - klen - 1), line + klen + 1);
            return value;
        }
        if (!nl) break;
        line = nl + 1;
    }
    return NULL;
}

static int ping(const char *peer_ip)
{
    char command[256];
    snprintf(command, sizeof command, "ping -n -q -c 3 -i 0.2 -W 1 -w 10 %s >/dev/null 2>&1", peer_ip);
    return system(command);
}

/* ---- a racing caller: hammers a handle from another thread while the main thread turns it off ---- */

struct racer {
    int32_t handle;
    int calls, last_rc, saw_ebadf;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        char *config = NULL;
        int rc = veiltun_get_config(r->handle, &config);
        veiltun_free(config);
        if (rc == 0) {
            int t = veiltun_trim_memory(r->handle);
            rc = t >= 0 ? 0 : t;
        }
        if (rc == 0) {
            int s = veiltun_get_socket_v4(r->handle);
            rc = s >= 0 || s == -ENOTCONN ? 0 : s;
        }
        r->calls++;
        r->last_rc = rc;
        if (rc == -EBADF) {
            r->saw_ebadf = 1;
            return NULL;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 10) return NULL;
    }
}

/* ---- one on/off cycle ---- */

struct args {
    const char *config, *tun, *peer_ip, *peer_hex, *setup;
    const char *move, *learned; /* optional: the network change of round 1 (see main) */
};

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* The device's listen_port as get_config reports it, into OUT ("" when absent). */
static void listen_port(int32_t h, char *out, size_t size)
{
    char *config = NULL;
    out[0] = 0;
    if (veiltun_get_config(h, &config) == 0 && config) {
        const char *p = strstr(config, "listen_port=");
        if (p) snprintf(out, size, "%.*s", (int)strcspn(p + 12, "\n"), p + 12);
    }
    veiltun_free(config);
}

/* Runs COMMAND every 50 ms until it succeeds or LIMIT_MS pass; the milliseconds it took, or -1. */
static long wait_for(const char *command, long limit_ms)
{
    long start = now_ms();
    do {
        if (system(command) == 0) return now_ms() - start;
        usleep(50 * 1000);
    } while (now_ms() - start < limit_ms);
    return -1;
}

static void cycle(const struct args *a, int round, int race_turn_off)
{
    char name[64], value[64], *config = NULL;
    int fd, rc, before;
    int32_t h;

#define CHECK(ok, what, ...)                                         \
    do {                                                             \
        snprintf(name, sizeof name, "%d-%s", round, what);           \
        check(ok, name, __VA_ARGS__);                                \
    } while (0)

    fd = open_tun(a->tun);
    CHECK(fd >= 0, "open-tun", "open /dev/net/tun + TUNSETIFF %s: %s", a->tun, strerror(fd < 0 ? -fd : 0));
    if (fd < 0) return;
    rc = system(a->setup);
    CHECK(rc == 0, "setup", "'%s' exited %d", a->setup, rc);

    before = protects();
    h = veiltun_turn_on(a->config, fd, on_protect, NULL);
    CHECK(h >= 0, "turn-on", "veiltun_turn_on returned %d (%s); last error: %s", h, strerror(-h), last_error);
    if (h < 0) return;

    int v4 = veiltun_get_socket_v4(h), v6 = veiltun_get_socket_v6(h);
    CHECK(protects() > before && protect_last_fd == v4 && v4 >= 0 && protect_bad_type == 0, "protect",
          "protect calls %d -> %d, last fd %d, get_socket_v4 %d, not UDP %d", before, protects(), protect_last_fd, v4,
          protect_bad_type);
    CHECK(v6 == v4 || v6 == -EAFNOSUPPORT, "socket-v6", "get_socket_v6 %d, v4 %d", v6, v4);

    list_threads("while on");
    rc = ping(a->peer_ip);
    CHECK(rc == 0, "ping", "no reply from %s through the tunnel (ping exit %d)", a->peer_ip, rc);

    rc = veiltun_get_config(h, &config);
    CHECK(rc == 0 && config != NULL && strstr(config, "private_key=") != NULL &&
              peer_value(config, a->peer_hex, "last_handshake_time_sec", value, sizeof value) && atol(value) > 0,
          "get-config", "rc %d; the peer %s or its latest handshake missing in: %s", rc, a->peer_hex,
          config ? config : "(null)");
    veiltun_free(config);
    config = NULL;

    char set[256];
    snprintf(set, sizeof set, "public_key=%s\nupdate_only=true\npersistent_keepalive_interval=25\n", a->peer_hex);
    rc = veiltun_set_config(h, set);
    int rc2 = veiltun_get_config(h, &config);
    CHECK(rc == 0 && rc2 == 0 && peer_value(config, a->peer_hex, "persistent_keepalive_interval", value, sizeof value) &&
              strcmp(value, "25") == 0,
          "set-config", "set %d, get %d, persistent_keepalive_interval '%s'", rc, rc2, config ? value : "?");
    veiltun_free(config);
    config = NULL;

    int errors = errors_logged();
    rc = veiltun_set_config(h, "no_such_key=1\n");
    CHECK(rc == -EINVAL && errors_logged() > errors, "set-config-invalid", "returned %d, error lines %d -> %d", rc,
          errors, errors_logged());

    char port_before[16] = "", port_after[16] = "";
    listen_port(h, port_before, sizeof port_before);

    /* Round 1: the phone's network changes under the tunnel (issue #16): its underlay address moves to another
     * one, then the host says so. The peer must learn the new address from the bump alone (its keepalive and
     * initiation; no inner packet is sent until it has), and replies must come back within 5 s. */
    long bump_at = 0;
    if (round == 1 && a->move) {
        rc = system(a->move);
        CHECK(rc == 0, "network-move", "'%s' exited %d", a->move, rc);
        bump_at = now_ms();
    }
    before = protects();
    rc = veiltun_bump_sockets(h);
    v4 = veiltun_get_socket_v4(h);
    CHECK(rc == 0 && protects() > before && v4 >= 0 && protect_last_fd == v4, "bump-sockets",
          "returned %d, protect calls %d -> %d, socket %d (protected %d)", rc, before, protects(), v4, protect_last_fd);
    listen_port(h, port_after, sizeof port_after);
    CHECK(port_before[0] && strcmp(port_before, port_after) == 0, "bump-keeps-port", "listen_port %s before, %s after",
          port_before, port_after);
    if (bump_at) {
        long learned = wait_for(a->learned, 5000);
        long learned_ms = learned < 0 ? -1 : now_ms() - bump_at;
        char command[256];
        snprintf(command, sizeof command, "ping -n -q -c 1 -W 1 %s >/dev/null 2>&1", a->peer_ip);
        long replied = wait_for(command, 5000);
        long replied_ms = replied < 0 ? -1 : now_ms() - bump_at;
        fprintf(stderr, "# network change: the peer learned the new address %ld ms after the bump, replies again "
                        "after %ld ms\n", learned_ms, replied_ms);
        CHECK(learned >= 0, "network-change-peer-learns", "'%s' still false 5 s after the bump", a->learned);
        CHECK(replied >= 0 && replied_ms <= 5000, "network-change-replies", "no reply within 5 s of the bump (%ld ms)",
              replied_ms);
    }
    rc = ping(a->peer_ip);
    CHECK(rc == 0, "ping-after-bump", "no reply from %s after bump (ping exit %d)", a->peer_ip, rc);

    rc = veiltun_trim_memory(h);
    CHECK(rc >= 0, "trim-memory", "returned %d", rc);

    pthread_t thread;
    struct racer racer = { .handle = h };
    if (race_turn_off) {
        pthread_create(&thread, NULL, race, &racer);
        sleep_ms(200);
    }
    rc = veiltun_turn_off(h);
    CHECK(rc == 0, "turn-off", "returned %d", rc);
    if (race_turn_off) {
        pthread_join(thread, NULL);
        CHECK(racer.saw_ebadf && racer.calls > 1, "turn-off-while-in-use",
              "another thread's calls during turn-off: %d, last %d (want -EBADF at the end)", racer.calls, racer.last_rc);
    }
    rc = veiltun_turn_off(h);
    rc2 = veiltun_get_config(h, &config);
    int rc3 = veiltun_bump_sockets(h);
    CHECK(rc == -EBADF && rc2 == -EBADF && config == NULL && rc3 == -EBADF, "stale-handle",
          "turn_off %d, get_config %d, bump_sockets %d", rc, rc2, rc3);
    for (int i = 0; i < 50 && if_nametoindex(a->tun) != 0; i++) sleep_ms(100);
    CHECK(if_nametoindex(a->tun) == 0, "tun-closed", "%s still exists after turn-off", a->tun);
#undef CHECK
}

int main(int argc, char **argv)
{
    struct args a;
    char *config;
    int rc, fd;

    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: %s CONFIG_FILE TUN_NAME PEER_IP PEER_PUBLIC_KEY_HEX SETUP_COMMAND "
                        "[MOVE_COMMAND LEARNED_COMMAND]\n"
                        "  MOVE_COMMAND moves the underlay address before round 1's bump; LEARNED_COMMAND succeeds "
                        "once the peer has learned the new one\n", argv[0]);
        return 2;
    }
    config = read_file(argv[1]);
    if (!config) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    a = (struct args){ config, argv[2], argv[3], argv[4], argv[5], argc == 8 ? argv[6] : NULL, argc == 8 ? argv[7] : NULL };

    const char *version = veiltun_version();
    check(version && version[0] >= '0' && version[0] <= '9', "version", "veiltun_version gave '%s'", version ? version : "(null)");
    fprintf(stderr, "# libveiltun %s\n", version);
    check(veiltun_set_logger(on_log, "log", VEILTUN_LOG_TRACE + 42) == -EINVAL, "logger-bad-level", "level 42 accepted");
    check(veiltun_set_logger(on_log, "log", VEILTUN_LOG_DEBUG) == 0, "logger", "veiltun_set_logger failed");

    /* Handles that never were. */
    int errors = errors_logged();
    char *out = (char *)1;
    int r1 = veiltun_turn_off(-1), r2 = veiltun_turn_off(424242), r3 = veiltun_set_config(424242, "");
    int r4 = veiltun_get_config(424242, &out), r5 = veiltun_get_socket_v4(424242), r6 = veiltun_get_socket_v6(-7);
    int r7 = veiltun_bump_sockets(424242), r8 = veiltun_trim_memory(424242);
    check(r1 == -EBADF && r2 == -EBADF && r3 == -EBADF && r4 == -EBADF && out == NULL && r5 == -EBADF && r6 == -EBADF &&
              r7 == -EBADF && r8 == -EBADF,
          "invalid-handle", "turn_off %d/%d set %d get %d socket %d/%d bump %d trim %d", r1, r2, r3, r4, r5, r6, r7, r8);
    check(errors_logged() >= errors + 8, "invalid-handle-logged", "error lines %d -> %d", errors, errors_logged());
    check(veiltun_get_config(424242, NULL) == -EINVAL && veiltun_set_config(424242, NULL) == -EINVAL, "null-arguments",
          "NULL out/in pointers not refused with -EINVAL");
    veiltun_free(NULL);

    /* A descriptor that is not a TUN: refused, and closed (the library owns it in every case). */
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    rc = veiltun_turn_on(config, fd, NULL, NULL);
    check(rc == -EINVAL && is_closed(fd), "not-a-tun", "returned %d, descriptor %s", rc, is_closed(fd) ? "closed" : "open");
    rc = veiltun_turn_on(config, -1, NULL, NULL);
    check(rc < 0, "negative-fd", "returned %d", rc);

    /* A bad configuration: a negative code and a log line naming the problem, no crash, the TUN closed. */
    fd = open_tun(a.tun);
    errors = errors_logged();
    rc = veiltun_turn_on("[Interface]\nPrivateKey = not-a-key\n[Peer]\n", fd, on_protect, NULL);
    check(fd >= 0 && rc == -EINVAL && errors_logged() > errors && strstr(last_error, "veiltun_turn_on") != NULL,
          "bad-config", "returned %d, error lines %d -> %d, last '%s'", rc, errors, errors_logged(), last_error);
    check(fd >= 0 && is_closed(fd), "bad-config-fd-closed", "the TUN descriptor %d is still open", fd);
    rc = veiltun_turn_on("private_key=zz\n", open_tun(a.tun), NULL, NULL);
    check(rc == -EINVAL, "bad-uapi-config", "returned %d", rc);

    /* A protect callback that refuses the socket: the turn-on fails (the link is up, so it binds at once). */
    fd = open_tun(a.tun);
    rc = fd >= 0 ? system(a.setup) : -1;
    errors = errors_logged();
    rc = rc == 0 ? veiltun_turn_on(config, fd, refuse_protect, NULL) : rc;
    check(rc == -EIO && is_closed(fd) && errors_logged() > errors, "protect-refused",
          "returned %d, descriptor %s, error lines %d -> %d", rc, is_closed(fd) ? "closed" : "open", errors, errors_logged());
    for (int i = 0; i < 50 && if_nametoindex(a.tun) != 0; i++) sleep_ms(100);

    /* Two on/off cycles; the second also turns off while another thread is calling in. */
    cycle(&a, 1, 0);
    int fds1, threads1;
    settle(&fds1, &threads1);
    fprintf(stderr, "# after the first turn-off: %d descriptors, %d threads\n", fds1, threads1);
    list_threads("after the first turn-off");
    cycle(&a, 2, 1);
    int fds2, threads2;
    settle(&fds2, &threads2);
    fprintf(stderr, "# after the second turn-off: %d descriptors, %d threads\n", fds2, threads2);
    list_threads("after the second turn-off");
    check(fds2 == fds1, "fds-stable", "%d descriptors after the first turn-off, %d after the second", fds1, fds2);
    check(threads2 == threads1, "threads-stable", "%d threads after the first turn-off, %d after the second", threads1,
          threads2);

    veiltun_set_logger(NULL, NULL, VEILTUN_LOG_NONE);
    free(config);
    fprintf(stderr, "# %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
