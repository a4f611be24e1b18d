/* mem.c — allocators that abort instead of returning NULL (mem.h). */
#include "compat.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "mem.h"

#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#include <unistd.h>
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#endif

static void oom(size_t n)
{
    fprintf(stderr, "FATAL out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (unlikely(!p))
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (unlikely(!p))
        oom(count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (unlikely(!q))
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        oom(0);
    return s;
}

void free_all(void *const ptrs[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ptrs[i]);
}

bool mem_trim_slack(size_t min_free)
{
#if defined(HAVE_JEMALLOC)
    /* jemalloc keeps freed pages dirty for its decay time: purge them now. */
    uint64_t epoch = 1;
    size_t len = sizeof epoch, pdirty = 0;
    mallctl("epoch", &epoch, &len, &epoch, len);
    len = sizeof pdirty;
    if (mallctl("stats.arenas." STRINGIFY(MALLCTL_ARENAS_ALL) ".pdirty", &pdirty, &len, NULL, 0) != 0 ||
        pdirty * (size_t)sysconf(_SC_PAGESIZE) < min_free)
        return false;
    mallctl("arena." STRINGIFY(MALLCTL_ARENAS_ALL) ".purge", NULL, NULL, NULL, 0);
    return true;
#elif defined(__GLIBC__)
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < min_free || mi.fordblks < mi.uordblks / 4)
        return false;
    malloc_trim(0);
    return true;
#else
    (void)min_free;
    return false;
#endif
}

#ifdef HAVE_JEMALLOC
/* jemalloc's own time-based purging hands pages back while a fan-out burst
 * is still reusing them: the re-faults cost a third of confabd's CPU at 2 M
 * deliveries/s (docs/benchmarks.md, issue 14). Freed pages stay for reuse;
 * mem_trim_slack purges them once a burst has left them behind. Read by
 * jemalloc at start (MALLOC_CONF still overrides). */
const char *malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";

/* The arena and thread cache of long-lived state, made on first use. */
static int keep_flags(void)
{
    static int flags = -1;
    if (flags < 0) {
        unsigned arena, tcache;
        size_t len = sizeof arena;
        if (mallctl("arenas.create", &arena, &len, NULL, 0) != 0)
            return flags = 0;
        len = sizeof tcache;
        flags = MALLOCX_ARENA(arena);
        if (mallctl("tcache.create", &tcache, &len, NULL, 0) == 0)
            flags |= MALLOCX_TCACHE(tcache);
    }
    return flags;
}

void *xmalloc_keep(size_t n)
{
    void *p = mallocx(n ? n : 1, keep_flags());
    if (!p)
        oom(n);
    return p;
}

void *xcalloc_keep(size_t count, size_t n)
{
    if (n && count > SIZE_MAX / n)
        oom(SIZE_MAX);
    size_t total = count * n;
    void *p = mallocx(total ? total : 1, keep_flags() | MALLOCX_ZERO);
    if (!p)
        oom(count * n);
    return p;
}

void *xrealloc_keep(void *p, size_t n)
{
    if (!p)
        return xmalloc_keep(n);
    void *q = rallocx(p, n ? n : 1, keep_flags());
    if (!q)
        oom(n);
    return q;
}
#else
void *xmalloc_keep(size_t n) { return xmalloc(n); }
void *xcalloc_keep(size_t count, size_t n) { return xcalloc(count, n); }
void *xrealloc_keep(void *p, size_t n) { return xrealloc(p, n); }
#endif

char *xstrdup_keep(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc_keep(n), s, n);
}
