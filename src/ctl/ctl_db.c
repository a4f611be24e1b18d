/* ctl_db.c — confabctl db migrate | status: the chat schema's version.
 *
 * Migrations are the ones compiled into this binary (schema_chat.c), applied
 * by migrate.c exactly as confabd applies them at start-up: one transaction,
 * serialised against daemons by an advisory lock. */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "migrate.h"
#include "pg_store.h"

/* Only --json (and --help) after the verb; no positional arguments. */
static int parse_plain(struct ctl *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "json", no_argument, NULL, 'J' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int ch;
    ctl_getopt_reset();
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'J')
            c->json = true;
        else
            return ctl_bad_option("db", argv);
    }
    if (optind < argc)
        return ctl_usage("db %s takes no arguments", argv[0]);
    return 0;
}

static const char *state_name(int have, int want)
{
    return have == want ? "current" : have < want ? "behind" : "newer";
}

static int print_status(const struct ctl *c, int have, int want)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:i, s:i, s:i, s:s}", "database", have, "binary",
                                        want, "pending", have < want ? want - have : 0,
                                        "state", state_name(have, want)));
    printf("database schema: %d\nconfabctl knows: %d\n", have, want);
    if (have == want)
        puts("state: current");
    else if (have < want)
        printf("state: behind (%d migration%s pending; run 'confabctl db migrate')\n",
               want - have, want - have == 1 ? "" : "s");
    else
        puts("state: newer than this binary (upgrade confab)");
    return 0;
}

static int db_status(struct ctl *c)
{
    int have = 0, rc = ctl_connect(c);
    if (rc == 0)
        rc = ctl_schema_version(c, &have);
    if (rc == 0)
        rc = print_status(c, have, ctl_binary_version());
    return rc;
}

/* The run's outcome as one line and an exit status. */
static int run_migrations(struct ctl *c, struct ctl_migration *m)
{
    ctl_migrate(c, c->cfg->storage_dsn, "chat", chat_migrations, chat_migrations_count, m);
    if (m->err == -ECANCELED) {
        ctl_err("the connection to the chat database was lost during the migration; run "
                "'confabctl db status' to see where it stands");
        return EX_UNAVAILABLE;
    }
    if (m->err == -EPROTO) {
        ctl_err("the chat database schema is newer than this confabctl; refusing to migrate");
        return EX_CONFIG;
    }
    if (m->err < 0) {
        ctl_err("the migration failed and was rolled back (schema stays at version %d)",
                m->from);
        return CTL_FAIL;
    }
    return 0;
}

static int print_migrated(const struct ctl *c, int from, int to)
{
    if (c->json)
        return ctl_print_json(json_pack("{s:i, s:i, s:b}", "from", from, "to", to,
                                        "changed", from != to));
    if (from == to)
        printf("chat schema: already at version %d\n", to);
    else
        printf("chat schema: migrated from version %d to %d\n", from, to);
    return 0;
}

static int db_migrate(struct ctl *c)
{
    int have = 0;
    int rc = ctl_connect(c);
    /* Checked here too so that the refusal is our one clear line. */
    if (rc == 0)
        rc = ctl_schema_known(c, "chat", ctl_binary_version(),
                              "refusing to migrate (upgrade confab)", &have);
    if (rc)
        return rc;
    struct ctl_migration m;
    rc = run_migrations(c, &m);
    return rc ? rc : print_migrated(c, m.from, m.to);
}

int ctl_db_main(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage("db: expected migrate or status");
    const char *verb = argv[1];
    int rc = parse_plain(c, argc - 1, argv + 1);
    if (rc)
        return rc;
    if (strcmp(verb, "status") == 0)
        return db_status(c);
    if (strcmp(verb, "migrate") == 0)
        return db_migrate(c);
    return ctl_usage("db: unknown command '%s' (expected migrate or status)", verb);
}
