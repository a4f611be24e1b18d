/* datetime.h — XEP-0082 DateTime: "CCYY-MM-DDThh:mm:ss[.sss]TZD" <-> UTC milliseconds.
 *
 * Times are int64_t milliseconds since 1970-01-01T00:00:00Z, computed from the
 * proleptic Gregorian calendar without libc time zones, so the result never
 * depends on TZ. Dates before 1970 are accepted and give negative values: real
 * stamps reach back that far (XEP-0045 §7.2.16 stamps a subject 1610-04-20). */
#ifndef CONFAB_DATETIME_H
#define CONFAB_DATETIME_H

#include <stdint.h>

#include "compat.h"

/* Longest datetime_format() output, NUL included, for any int64_t input. */
#define DATETIME_FMT_MAX 32

/* Parse an XEP-0082 DateTime into *ms_out. Strict: a four-digit year
 * (0000-9999), two-digit fields in the XEP-0082 §2 ranges (hh 00-23, mm 00-59,
 * ss 00-59, so no leap second and no 24:00:00), a real calendar day, and a
 * mandatory TZD of "Z" or "+hh:mm"/"-hh:mm" within XML Schema's ±14:00.
 * Fractional seconds may have any number of digits; they are truncated (not
 * rounded) to milliseconds. Anything else, including trailing characters or
 * lowercase 't'/'z', is -EINVAL and leaves *ms_out untouched. */
MUST_CHECK int datetime_parse(const char *s, int64_t *ms_out);

/* Format ms as UTC: "2002-09-10T23:08:25Z", or "2002-09-10T23:08:25.123Z" when
 * ms is not a whole second. Years outside 0000-9999 are printed as plain
 * integers, which is not XEP-0082 but cannot come from datetime_parse(). */
void datetime_format(int64_t ms, char out[DATETIME_FMT_MAX]);

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the epoch. */
int64_t datetime_now_ms(void);

#endif
