/* mem.h — allocation that never returns NULL.
 *
 * Out of memory is not a recoverable condition for a chat daemon: durability comes
 * from acknowledging only what is committed, not from surviving OOM. These wrappers
 * log one line and abort, so callers never carry NULL checks for allocation. */
#ifndef CONFAB_MEM_H
#define CONFAB_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* free() each of n pointers. Teardown of a record that owns several strings
 * then reads as one list of what it owns: FREE_ALL(r->a, r->b, r). */
void free_all(void *const ptrs[], size_t n);
#define FREE_ALL(...) \
    free_all((void *const[]){__VA_ARGS__}, \
             sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

/* Long-lived engine state (rooms, occupants, sessions, affiliations, their
 * strings and hash tables) comes from its own allocator arena where the
 * allocator has them (jemalloc): bursts of short-lived objects (parked
 * stanzas, query results) then never share its pages, and the pages an idle
 * room keeps are all its own. Freed with free(). Plain malloc elsewhere. */
void *xmalloc_keep(size_t n);
void *xcalloc_keep(size_t count, size_t n);
void *xrealloc_keep(void *p, size_t n);
char *xstrdup_keep(const char *s);

/* Give the heap's free pages back to the system when a burst has left more
 * than min_free bytes free and free space outweighs a quarter of what is in
 * use (glibc keeps freed memory in its lists, and idle rooms should not pay
 * for the burst that loaded them). Cheap enough for a 1 s timer; the one
 * place that trims. Returns whether it trimmed. */
#include <stdbool.h>
bool mem_trim_slack(size_t min_free);

#endif
