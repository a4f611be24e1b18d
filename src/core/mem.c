/* mem.c — allocators that abort instead of returning NULL (mem.h). */
#include "compat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "mem.h"

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
#ifdef __GLIBC__
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
