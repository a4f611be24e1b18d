/* confabctl — wiring only: global options, the config file, dispatch to the
 * command families (ctl_db.c, ctl_rooms.c, ctl_history.c, ctl_compliance.c,
 * ctl_category.c, ctl_group.c). */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cfg.h"
#include "ctl.h"
#include "log.h"

static void usage(FILE *out)
{
    fputs("usage: confabctl -c FILE [--json] [-v] COMMAND ...\n"
          "\n"
          "  db migrate              apply pending chat schema migrations\n"
          "  db status               schema version of the database and of this binary\n"
          "  status [--all]          every running confabd: version, uptime, rooms, occupants,\n"
          "                          link, queues (--all: also those stopped in the last day)\n"
          "  rooms list [--all]      public rooms (--all: hidden ones too) with message counts\n"
          "  rooms show ROOM         configuration, subject, affiliations, messages\n"
          "  rooms create ROOM --owner JID [--name NAME] [--members-only] [--hidden]\n"
          "                          a persistent, unlocked room owned by JID\n"
          "  rooms destroy ROOM [--reason TEXT] [--venue JID]\n"
          "                          delete the room, its affiliations and history, and leave\n"
          "                          a tombstone so the name is not reused; running confabds\n"
          "                          remove its occupants at once (the destroy presence,\n"
          "                          with the reason and venue)\n"
          "  rooms report [--name TEXT] [--owner JID] [--member JID] [--idle-since DATE]\n"
          "               [--min-messages N] [--min-mb N] [--csv]\n"
          "                          every room: owners, members, occupants now, messages,\n"
          "                          last message, size (Cisco's Room Report)\n"
          "  rooms clear ROOM --before DATE [--reason TEXT]\n"
          "                          delete the room's messages before DATE; running confabds\n"
          "                          reload its history\n"
          "  messages remove|replace --room ROOM [--keywords K1,K2 [--match any|all|exact]\n"
          "                          [--match-case]] [--sender JID] [--from DATE] [--to DATE]\n"
          "                          [--text TEXT] [--officer NAME] [--reason TEXT] [--apply]\n"
          "                          take messages down (a tombstone) or replace their text;\n"
          "                          a dry run that lists them unless --apply\n"
          "  rooms set-category ROOM CATEGORY [--officer NAME] [--reason TEXT]\n"
          "                          move the room into CATEGORY (its walls apply at once)\n"
          "  category create NAME [--description TEXT] [--invitations yes|no]\n"
          "                  [--history yes|no] [--file-posting yes|no]\n"
          "                  [--privacy open|closed|secret] [--type normal|auditorium]\n"
          "                  [--max-occupants N] [--allow P] [--deny P] [--creator P]\n"
          "  category set NAME [the same settings] [--allow P] [--deny P] [--creator P]\n"
          "                  [--unallow P] [--undeny P] [--uncreator P]\n"
          "                          P (repeatable): user@domain, domain:DOMAIN, group:NAME\n"
          "                          or everyone; denied wins over allowed\n"
          "  category list [--csv] | show NAME | delete NAME\n"
          "                          delete is refused while the category holds rooms\n"
          "  group create NAME [--description TEXT] [--ldap-filter FILTER]\n"
          "  group add|remove NAME JID...   members of a local group\n"
          "  group list [NAME] [--csv]      groups, or one group and its members\n"
          "  group sync NAME | --all [--allow-empty]\n"
          "                          replace an LDAP group's members ([ldap]); emptying\n"
          "                          a group needs --allow-empty\n"
          "                          category/group/set-category also take --officer NAME\n"
          "                          and --reason TEXT for the compliance event\n"
          "  history purge --room ROOM --before DATE\n"
          "                          delete the room's messages older than DATE (YYYY-MM-DD\n"
          "                          or XEP-0082, e.g. 2024-05-01T12:00:00Z), in batches\n"
          "  export [--level all|directory|content] [--room ROOM]... [--rooms-matching GLOB]\n"
          "         [--category NAME] [--since DATE] [--until DATE] [--out FILE]\n"
          "                          rooms, configuration, affiliations, vCards, tombstones and\n"
          "                          history as confab's export format (JSON lines)\n"
          "  import FILE [--skip-existing | --replace]\n"
          "                          an export file (or contrib/prosody's) into this database,\n"
          "                          one transaction per room; running confabds are told\n"
          "  policy show             the service policy: each key, its value, from the policy\n"
          "                          table or [muc]\n"
          "  policy set KEY VALUE    change it in every running confabd (create_persistent\n"
          "                          anyone|creators|admins, max_rooms, max_rooms_per_user,\n"
          "                          default_max_occupants, owners_may_change all|none|LIST)\n"
          "  policy unset KEY        back to [muc]'s value\n"
          "\n"
          "Compliance database ([archiver] dsn, or --dsn DSN after the command):\n"
          "  compliance verify [--from DATE] [--to DATE] [--checkpoints FILE --pubkey PUB]\n"
          "                          recompute the hash chain; exit 1 at the first broken row;\n"
          "                          with signed checkpoints also a rewritten or cut chain\n"
          "  compliance migrate [--dsn DSN]\n"
          "                          apply the compliance schema's migrations (as its owner)\n"
          "  compliance keygen --out FILE\n"
          "                          Ed25519 key for [archiver] checkpoint_key (FILE.pub verifies)\n"
          "  compliance search [--user JID] [--room ROOM] [--from DATE] [--to DATE]\n"
          "                    [--words TEXT] [--type TYPE] [--limit N] [--format table|csv|json]\n"
          "                          events by who (actor, target or recipient), where, when\n"
          "  compliance export --out DIR [--room ROOM] [--from DATE] [--to DATE]\n"
          "                    [--slice day|week|month]\n"
          "                          Lync compliance XML, one file per room and slice\n"
          "  compliance hold add|remove --user JID | --room ROOM [--reason TEXT]\n"
          "  compliance hold list [--all]\n"
          "                          legal holds: held events are never purged\n"
          "  compliance purge --before DATE [--reason TEXT]\n"
          "                          delete unheld events older than DATE (database owner);\n"
          "                          recorded as a purge event, the chain stays verifiable\n"
          "\n"
          "ROOM is name@service, or just name for a room of [component] domain.\n"
          "\n"
          "  -c, --config FILE   the confab configuration file ([storage] dsn, [archiver] dsn)\n"
          "      --json          JSON output on stdout\n"
          "  -v, --verbose       log what the database layer does (repeat for debug)\n"
          "  -V, --version       print the version and exit\n"
          "\n"
          "Exit status: 0 ok, 64 usage, 65 bad input (JID, date), 69 database unavailable,\n"
          "78 configuration error or database schema newer than this binary, 1 other failure.\n",
          out);
}

struct options {
    const char *config;
    bool json;
    int verbose;
};

/* Returns -1 to continue with argv[optind...], or an exit status. */
static int parse_global(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'J' },
        { "verbose", no_argument, NULL, 'v' },      { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    int ch;
    opterr = 0; /* our own one-line message instead of getopt's */
    /* '+': stop at the command; its own options are its business. */
    while ((ch = getopt_long(argc, argv, "+c:vVh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'J': o->json = true; break;
        case 'v': o->verbose++; break;
        case 'V': printf("confabctl %s\n", PACKAGE_VERSION); return EX_OK;
        case 'h': usage(stdout); return EX_OK;
        default:
            return ctl_usage("unknown or incomplete option '%s'",
                             optind > 1 ? argv[optind - 1] : "?");
        }
    }
    if (!o->config)
        return ctl_usage("-c FILE is required");
    if (optind >= argc)
        return ctl_usage("no command given");
    return -1;
}

static int dispatch(struct ctl *c, int argc, char **argv)
{
    static const struct {
        const char *family;
        int (*run)(struct ctl *c, int argc, char **argv);
    } commands[] = {
        { "db", ctl_db_main },
        { "status", ctl_status_main },
        { "rooms", ctl_rooms_main },
        { "history", ctl_history_main },
        { "messages", ctl_messages_main },
        { "export", ctl_export_main },
        { "import", ctl_import_main },
        { "compliance", ctl_compliance_main },
        { "category", ctl_category_main },
        { "group", ctl_group_main },
        { "policy", ctl_policy_main },
    };
    const char *family = argv[0];
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        if (strcmp(family, commands[i].family) == 0)
            return commands[i].run(c, argc, argv);
    return ctl_usage("unknown command '%s'", family);
}

/* Every argument must be UTF-8 (RFC 3629: shortest form, no surrogates, at
 * most U+10FFFF): PostgreSQL would refuse it deep inside a command with a raw
 * SQLSTATE 22021, so it is refused here, naming the argument. */
static int check_utf8_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const unsigned char *p = (const unsigned char *)argv[i];
        while (*p) {
            unsigned c = *p, n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1
                                  : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : 9;
            unsigned cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
            unsigned k = 1;
            for (; n < 9 && k <= n && (p[k] & 0xc0) == 0x80; k++)
                cp = cp << 6 | (p[k] & 0x3f);
            bool bad = n == 9 || k <= n ||
                       (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
                       (n == 3 && (cp < 0x10000 || cp > 0x10ffff));
            if (bad)
                return ctl_usage("argument %d is not valid UTF-8 (byte %zu)", i,
                                 (size_t)(p - (const unsigned char *)argv[i]) + 1);
            p += n + 1;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct options o = { 0 };
    log_set_ident("confabctl");
    int rc = check_utf8_args(argc, argv);
    if (rc >= 0)
        return rc;
    rc = parse_global(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct cfg cfg;
    char *err = NULL;
    if (cfg_load(o.config, CFG_ROLE_CTL, &cfg, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return EX_CONFIG;
    }
    /* The log is for daemons; a CLI speaks through its own one-line errors,
     * so db.c's retry chatter stays quiet unless asked for. */
    log_set_level(o.verbose >= 2 ? LOG_DEBUG : o.verbose ? LOG_INFO : LOG_ERROR);
    struct ctl c = { .cfg = &cfg, .json = o.json };
    uv_loop_init(&c.loop);
    rc = dispatch(&c, argc - optind, argv + optind);
    ctl_disconnect(&c);
    uv_run(&c.loop, UV_RUN_DEFAULT); /* close callbacks */
    if (uv_loop_close(&c.loop) != 0)
        log_debug("the loop still had open handles at exit");
    cfg_free(&cfg);
    return rc;
}
