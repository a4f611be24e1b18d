/* /proc readers: CPU and RSS of confabd (and PostgreSQL), and finding the
 * process at the other end of the component connection. */
#include "compat.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double bench_self_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Fields of /proc/PID/stat after the command name: state is field 3. */
struct stat_fields {
    long ppid;
    unsigned long long utime, stime;
    long long cutime, cstime;
};

static int read_stat(pid_t pid, struct stat_fields *f)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -errno;
    size_t n = fread(line, 1, sizeof line - 1, fp);
    fclose(fp);
    line[n] = '\0';
    /* The command name may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(line, ')');
    if (!p)
        return -EINVAL;
    char state;
    int pgrp, session, tty, tpgid;
    unsigned flags;
    unsigned long minflt, cminflt, majflt, cmajflt;
    if (sscanf(p + 1, " %c %ld %d %d %d %d %u %lu %lu %lu %lu %llu %llu %lld %lld", &state,
               &f->ppid, &pgrp, &session, &tty, &tpgid, &flags, &minflt, &cminflt, &majflt,
               &cmajflt, &f->utime, &f->stime, &f->cutime, &f->cstime) != 15)
        return -EINVAL;
    return 0;
}

static long status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(fp);
    return v;
}

double proc_busy_all(void)
{
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp)
        return 0;
    unsigned long long v[8] = { 0 };
    int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(fp);
    if (n < 5)
        return 0;
    unsigned long long busy = 0;
    for (int i = 0; i < 8; i++)
        if (i != 3 && i != 4)
            busy += v[i];
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

int proc_sample(pid_t pid, bool children, struct proc_sample *out)
{
    memset(out, 0, sizeof *out);
    struct stat_fields f;
    if (pid <= 0 || read_stat(pid, &f) < 0)
        return -ESRCH;
    double tick = (double)sysconf(_SC_CLK_TCK);
    double cpu = (double)(f.utime + f.stime);
    if (children) {
        cpu += (double)(f.cutime + f.cstime);
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            char *end;
            long cp = strtol(de->d_name, &end, 10);
            struct stat_fields cf;
            if (*end || cp <= 0 || cp == pid || read_stat((pid_t)cp, &cf) < 0 || cf.ppid != pid)
                continue;
            cpu += (double)(cf.utime + cf.stime);
        }
        if (d)
            closedir(d);
    }
    out->cpu_s = cpu / tick;
    out->rss_kb = status_kb(pid, "VmRSS");
    out->hwm_kb = status_kb(pid, "VmHWM");
    out->ok = true;
    return 0;
}

/* The socket inode of the TCP connection local:lport <-> 127.0.0.1:rport as
 * the peer sees it (its local address is our remote one). */
static unsigned long peer_inode(const struct sockaddr_in *mine, const struct sockaddr_in *peer)
{
    FILE *fp = fopen("/proc/net/tcp", "r");
    if (!fp)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof line, fp)) {
        fclose(fp);
        return 0;
    }
    while (fgets(line, sizeof line, fp)) {
        unsigned la, lp, ra, rp, st;
        unsigned long inode;
        int uid;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*d: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %d %*d %lu", &la, &lp, &ra,
                   &rp, &st, &uid, &inode) != 7)
            continue;
        if (lp == ntohs(peer->sin_port) && rp == ntohs(mine->sin_port) &&
            la == peer->sin_addr.s_addr && ra == mine->sin_addr.s_addr) {
            found = inode;
            break;
        }
    }
    fclose(fp);
    return found;
}

pid_t proc_peer_pid(int fd)
{
    struct sockaddr_in mine, peer;
    socklen_t ml = sizeof mine, pl = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&mine, &ml) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || mine.sin_family != AF_INET)
        return -1;
    unsigned long inode = peer_inode(&mine, &peer);
    if (!inode)
        return -1;
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    pid_t self = getpid(), found = -1;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (found < 0 && d && (de = readdir(d)) != NULL) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (*end || p <= 0 || p == self)
            continue;
        char fddir[64];
        snprintf(fddir, sizeof fddir, "/proc/%ld/fd", p);
        DIR *fds = opendir(fddir);
        struct dirent *fe;
        while (fds && (fe = readdir(fds)) != NULL) {
            char link[320], target[128];
            snprintf(link, sizeof link, "%s/%s", fddir, fe->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = (pid_t)p;
                break;
            }
        }
        if (fds)
            closedir(fds);
    }
    if (d)
        closedir(d);
    return found;
}
