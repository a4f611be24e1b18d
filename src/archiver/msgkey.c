/* msgkey.c — the stable key of one 1:1 message across its copies (msgkey.h). */
#include "compat.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "msgkey.h"

/* A netstring ("len:bytes,"; "~" for absent), so no two field lists give the
 * same bytes. */
static void ns(struct buf *b, const char *s, size_t len)
{
    if (!s) {
        buf_putc(b, '~');
        return;
    }
    buf_printf(b, "%zu:", len);
    buf_append(b, s, len);
    buf_putc(b, ',');
}

static void str(struct buf *b, const char *s)
{
    ns(b, s, s ? strlen(s) : 0);
}

/* The bare part of a prepared JID: everything before the first '/'. */
static void bare(struct buf *b, const char *jid)
{
    ns(b, jid, jid ? strcspn(jid, "/") : 0);
}

void msgkey_compute(const struct msgkey_in *in, char out[DIGEST_HEX_LEN])
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "confab-msgkey-1;");
    bare(&b, in->from);
    bare(&b, in->to);
    str(&b, in->type ? in->type : "normal");
    if (in->id) {
        buf_putc(&b, 'i');
        str(&b, in->id);
    } else {
        char w[24];
        int64_t t = in->time_ms < 0 ? 0 : in->time_ms;
        snprintf(w, sizeof w, "%" PRId64, t / MSGKEY_WINDOW_MS);
        buf_putc(&b, 'w');
        str(&b, w);
    }
    str(&b, in->body);
    str(&b, in->subject);
    str(&b, in->thread);
    digest_sha256_hex(b.data, b.len, out);
    buf_free(&b);
}
