/* bench_io.c — router mode's socket to confabd (listen, read, scan, write) and the confabd it starts with --spawn. */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_router.h"
#include "mem.h"

void io_consume(int64_t now)
{
    /* The handshake always goes through expat; confabd sends nothing after its
     * <handshake/> until our answer, so no stanza bytes are in that buffer. */
    if (B.phase == PH_HANDSHAKE || O.xstream_parser) {
        xs_feed(now);
        return;
    }
    size_t off = 0;
    while (off < B.rlen && !B.failed) {
        struct stz st;
        long r = scan_stanza(B.rbuf + off, B.rlen - off, &st);
        if (r == 0)
            break;
        if (r == -2) {
            bench_fail("confabd closed the stream");
            break;
        }
        if (r < 0) {
            bench_fail("unexpected input from confabd near: %.80s", B.rbuf + off);
            break;
        }
        off += (size_t)r;
        if (st.kind != STZ_NONE)
            rx_stanza(&st, now);
    }
    if (off) {
        memmove(B.rbuf, B.rbuf + off, B.rlen - off);
        B.rlen -= off;
    }
}

void io_read(void)
{
    for (int rounds = 0; rounds < 32 && !B.failed; rounds++) {
        if (B.rcap - B.rlen < 65536) {
            B.rcap *= 2;
            B.rbuf = xrealloc(B.rbuf, B.rcap);
        }
        ssize_t n = read(B.fd, B.rbuf + B.rlen, B.rcap - B.rlen);
        if (n == 0) {
            bench_fail("confabd closed the connection");
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            bench_fail("read: %s", strerror(errno));
            return;
        }
        B.bytes_in += (uint64_t)n;
        B.rlen += (size_t)n;
        io_consume(bench_now_ns());
        if ((size_t)n < 65536)
            return;
    }
}

void io_flush(void)
{
    while (B.out_off < B.out.len) {
        ssize_t n = write(B.fd, B.out.data + B.out_off, B.out.len - B.out_off);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                bench_fail("write: %s", strerror(errno));
            break;
        }
        B.out_off += (size_t)n;
        B.bytes_out += (uint64_t)n;
    }
    if (B.out_off == B.out.len) {
        buf_reset(&B.out);
        B.out_off = 0;
    } else if (B.out_off > (1u << 20)) {
        buf_consume(&B.out, B.out_off);
        B.out_off = 0;
    }
    if (B.out.len > ((size_t)1 << 30))
        bench_fail("more than 1 GiB queued for confabd: it stopped reading");
}

int io_listen(const char *host, unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "confab-bench: bad listen address %s (IPv4 loopback expected)\n", host);
        exit(2);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4) < 0) {
        fprintf(stderr, "confab-bench: cannot listen on %s:%u: %s\n", host, port,
                strerror(errno));
        exit(1);
    }
    return fd;
}

void io_spawn(void)
{
    B.t_spawn = bench_now_ns();
    pid_t p = fork();
    if (p < 0) {
        perror("confab-bench: fork");
        exit(1);
    }
    if (p == 0) {
        if (O.spawn_log) {
            int lf = open(O.spawn_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (lf >= 0) {
                dup2(lf, 1);
                dup2(lf, 2);
                close(lf);
            }
        }
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        close(B.lfd);
        execvp(O.spawn_argv[0], O.spawn_argv);
        perror("confab-bench: exec");
        _exit(127);
    }
    B.pid = p;
    B.spawned = true;
    bench_note("started %s as pid %d", O.spawn_argv[0], (int)p);
}

void io_stop_spawned(void)
{
    if (!B.spawned || B.pid <= 0)
        return;
    kill(B.pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        int status;
        pid_t r = waitpid(B.pid, &status, WNOHANG);
        if (r == B.pid) {
            B.spawned = false;
            return;
        }
        usleep(50000);
    }
    kill(B.pid, SIGKILL);
    waitpid(B.pid, NULL, 0);
    B.spawned = false;
}
