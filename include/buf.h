/* buf.h — growable byte buffer: output queues and serialisation.
 * A buf owns its bytes; buf_free releases them. Contents are always
 * NUL-terminated so they can be handed to string functions. */
#ifndef CONFAB_BUF_H
#define CONFAB_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for n more bytes; returns a pointer to the free space. */
char *buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hand the bytes to the caller (who frees them) and leave b empty. */
char *buf_steal(struct buf *b, size_t *len);
/* Append s with XML escaping: text (attr=0) escapes & < >, attributes also ' and ". */
void buf_put_xml_escaped(struct buf *b, const char *s, size_t n, int attr);

#endif
