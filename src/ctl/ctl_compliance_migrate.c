/* ctl_compliance_migrate.c — `confabctl compliance migrate [--dsn DSN]`: the
 * compliance schema's migrations, run by its owner.
 *
 * Least privilege (docs/compliance.md, "Roles"): the owner's login applies the
 * migrations, confab-archiver runs as a member of the INSERT-only role
 * confab_archiver and only checks the version at start-up, officers read as
 * members of confab_officer. This is the owner's step, with the same
 * migrations the archiver has compiled in, applied by migrate.c the same way
 * (one transaction, serialised against daemons by an advisory lock). */
#include "compat.h"

#include <stdio.h>

#include "ctl.h"
#include "migrate.h"

/* schema_compliance.c, generated from schema/compliance/. */
extern const struct migration compliance_migrations[];
extern const size_t compliance_migrations_count;

/* The run's outcome as one line and an exit status. */
static int run(struct ctl *c, const char *dsn, struct ctl_migration *m)
{
    ctl_migrate(c, dsn, "compliance", compliance_migrations, compliance_migrations_count, m);
    if (m->err == -ECANCELED) {
        ctl_err("the connection to the compliance database was lost during the migration");
        return EX_UNAVAILABLE;
    }
    if (m->err == -EPROTO) {
        ctl_err("the compliance database schema is newer than this confabctl; refusing to "
                "migrate");
        return EX_CONFIG;
    }
    if (m->err < 0) {
        ctl_err("the migration failed and was rolled back (schema stays at version %d); it "
                "must run as the database's owner", m->from);
        return CTL_FAIL;
    }
    return 0;
}

int ctl_compliance_migrate(struct ctl *c, const struct ctl_compliance_opts *o)
{
    int rc = ctl_connect_compliance(c, o->dsn);
    if (rc)
        return rc;
    struct ctl_migration m;
    rc = run(c, o->dsn ? o->dsn : c->cfg->archiver_dsn, &m);
    if (rc)
        return rc;
    if (c->json)
        return ctl_print_json(json_pack("{s:i, s:i, s:b}", "from", m.from, "to", m.to,
                                        "changed", m.from != m.to));
    if (m.from == m.to)
        printf("compliance schema: already at version %d\n", m.to);
    else
        printf("compliance schema: migrated from version %d to %d\n", m.from, m.to);
    return 0;
}
