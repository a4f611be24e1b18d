/* XEP-0004 data forms: parsing what clients submit (the XEP-0045 room
 * configuration example verbatim), the typed accessors, rejection of
 * malformed forms, and the exact serialisation of what the builders produce. */
#include "unit.h"

#include <limits.h>

#include "form.h"
#include "mem.h"
#include "xml.h"

/* Parse an <x/> given as text; returns form_parse's result. */
static int parse_form(const char *s, struct form *f)
{
    struct xml_node *x = unit_parse(s);
    int rc = form_parse(x, f);
    xml_unref(x);
    return rc;
}

/* XEP-0045 §10.1.3, "Owner Submits Configuration Form", as published. */
static const char ROOMCONFIG_SUBMIT[] =
    "<iq from='crone1@shakespeare.lit/desktop' id='create2' to='coven@chat.shakespeare.lit'"
    "    type='set'>\n"
    "  <query xmlns='http://jabber.org/protocol/muc#owner'>\n"
    "    <x xmlns='jabber:x:data' type='submit'>\n"
    "      <field var='FORM_TYPE'>\n"
    "        <value>http://jabber.org/protocol/muc#roomconfig</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_roomname'>\n"
    "        <value>A Dark Cave</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_roomdesc'>\n"
    "        <value>The place for all good witches!</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_enablelogging'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_changesubject'>\n"
    "        <value>1</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_allowinvites'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_allowpm'>\n"
    "        <value>anyone</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_maxusers'>\n"
    "        <value>10</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_publicroom'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_persistentroom'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_moderatedroom'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_membersonly'>\n"
    "        <value>0</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_passwordprotectedroom'>\n"
    "        <value>1</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_roomsecret'>\n"
    "        <value>cauldronburn</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_whois'>\n"
    "        <value>moderators</value>\n"
    "      </field>\n"
    "      <field var='muc#maxhistoryfetch'>\n"
    "        <value>50</value>\n"
    "      </field>\n"
    "      <field var='muc#roomconfig_roomadmins'>\n"
    "        <value>wiccarocks@shakespeare.lit</value>\n"
    "        <value>hecate@shakespeare.lit</value>\n"
    "      </field>\n"
    "    </x>\n"
    "  </query>\n"
    "</iq>";

static void test_parse_roomconfig(void **state)
{
    struct xml_node *iq = unit_parse(ROOMCONFIG_SUBMIT);
    struct xml_node *query = xml_child(iq, "query", NULL);
    assert_non_null(query);
    struct form f;
    assert_int_equal(form_parse(xml_child(query, "x", NS_DATA_FORMS), &f), 0);
    xml_unref(iq);

    assert_string_equal(f.type, "submit");
    assert_string_equal(f.form_type, "http://jabber.org/protocol/muc#roomconfig");
    assert_int_equal(f.nfields, 17);
    /* FORM_TYPE stays an ordinary field as well, first as sent. */
    assert_string_equal(f.fields[0].var, "FORM_TYPE");
    assert_null(f.fields[0].type);
    assert_string_equal(form_value(&f, "muc#roomconfig_roomname"), "A Dark Cave");
    assert_string_equal(form_value(&f, "muc#roomconfig_roomsecret"), "cauldronburn");
    assert_string_equal(form_value(&f, "muc#roomconfig_whois"), "moderators");

    const struct form_field *admins = form_get(&f, "muc#roomconfig_roomadmins");
    assert_non_null(admins);
    assert_int_equal(admins->nvalues, 2);
    assert_string_equal(admins->values[0], "wiccarocks@shakespeare.lit");
    assert_string_equal(admins->values[1], "hecate@shakespeare.lit");
    assert_ptr_equal(admins, &f.fields[16]);

    bool b = true;
    assert_int_equal(form_bool(&f, "muc#roomconfig_enablelogging", &b), 0);
    assert_false(b);
    assert_int_equal(form_bool(&f, "muc#roomconfig_passwordprotectedroom", &b), 0);
    assert_true(b);
    unsigned long u = 0;
    assert_int_equal(form_uint(&f, "muc#roomconfig_maxusers", 1000, &u), 0);
    assert_int_equal(u, 10);
    assert_int_equal(form_uint(&f, "muc#maxhistoryfetch", 1000, &u), 0);
    assert_int_equal(u, 50);

    assert_null(form_get(&f, "muc#roomconfig_lang"));
    assert_null(form_value(&f, "muc#roomconfig_lang"));
    assert_null(form_get(&f, "muc#roomconfig_ROOMNAME"));
    form_free(&f);
    assert_null(f.fields);
    assert_int_equal(f.nfields, 0);
    form_free(&f);
    form_free(NULL);
}

static void test_parse_values(void **state)
{
    struct form f;
    assert_int_equal(
        parse_form("<x xmlns='jabber:x:data' type='form'>"
                   "<title>T</title><instructions>I</instructions>"
                   "<field var='FORM_TYPE' type='text-single'><value>urn:visible</value></field>"
                   "<field type='fixed'><value>Section 1</value></field>"
                   "<field type='fixed'><value>Section 2</value></field>"
                   "<field var='features' type='list-multi' label='Features'>"
                   "<desc>pick</desc><required/>"
                   "<value>news</value><value>polls</value><value>a &amp; b</value>"
                   "<option label='News'><value>news</value></option>"
                   "<option label='Contests'><value>contests</value></option>"
                   "</field>"
                   "<field var='empty'><value/></field>"
                   "<field var='spaces'><value> two  words </value></field>"
                   "<field var='none' type='text-single'/>"
                   "<field var='foreign'><value xmlns='urn:other'>no</value>"
                   "<value>yes</value></field>"
                   "<field xmlns='urn:other' var='features'/>"
                   "<reported><field var='features'/></reported>"
                   "<item><field var='features'><value>x</value></field></item>"
                   "</x>",
                   &f),
        0);
    assert_string_equal(f.type, "form");
    /* A visible FORM_TYPE is no context indicator (XEP-0068). */
    assert_null(f.form_type);
    assert_string_equal(form_value(&f, "FORM_TYPE"), "urn:visible");
    assert_int_equal(f.nfields, 8);

    assert_null(f.fields[1].var);
    assert_string_equal(f.fields[1].type, "fixed");
    assert_string_equal(f.fields[2].values[0], "Section 2");

    const struct form_field *fl = form_get(&f, "features");
    assert_non_null(fl);
    assert_string_equal(fl->type, "list-multi");
    /* Option values are choices, not the field's values. */
    assert_int_equal(fl->nvalues, 3);
    assert_string_equal(fl->values[0], "news");
    assert_string_equal(fl->values[1], "polls");
    assert_string_equal(fl->values[2], "a & b");

    fl = form_get(&f, "empty");
    assert_int_equal(fl->nvalues, 1);
    assert_string_equal(fl->values[0], "");
    assert_string_equal(form_value(&f, "empty"), "");
    assert_string_equal(form_value(&f, "spaces"), " two  words ");

    fl = form_get(&f, "none");
    assert_non_null(fl);
    assert_int_equal(fl->nvalues, 0);
    assert_null(fl->values);
    assert_null(form_value(&f, "none"));

    assert_int_equal(form_get(&f, "foreign")->nvalues, 1);
    assert_string_equal(form_value(&f, "foreign"), "yes");
    form_free(&f);
}

static void test_form_type_hidden(void **state)
{
    struct form f;
    assert_int_equal(parse_form("<x xmlns='jabber:x:data' type='result'>"
                                "<field var='FORM_TYPE' type='hidden'><value>urn:a</value>"
                                "<value>urn:b</value></field></x>",
                                &f),
                     0);
    assert_string_equal(f.form_type, "urn:a");
    form_free(&f);

    assert_int_equal(parse_form("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='FORM_TYPE' type='hidden'/></x>",
                                &f),
                     0);
    assert_null(f.form_type);
    assert_int_equal(f.nfields, 1);
    form_free(&f);

    assert_int_equal(parse_form("<x xmlns='jabber:x:data' type='cancel'/>", &f), 0);
    assert_string_equal(f.type, "cancel");
    assert_null(f.form_type);
    assert_int_equal(f.nfields, 0);
    assert_null(f.fields);
    assert_null(form_get(&f, "x"));
    form_free(&f);
}

static void test_bool(void **state)
{
    struct form f;
    assert_int_equal(parse_form("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='one'><value>1</value></field>"
                                "<field var='true'><value>true</value></field>"
                                "<field var='zero'><value>0</value></field>"
                                "<field var='false' type='boolean'><value>false</value></field>"
                                "<field var='padded'><value>\n  true\t</value></field>"
                                "<field var='novalue' type='boolean'/>"
                                "<field var='upper'><value>TRUE</value></field>"
                                "<field var='yes'><value>yes</value></field>"
                                "<field var='empty'><value></value></field>"
                                "<field var='two'><value>10</value></field>"
                                "<field var='inner'><value>t rue</value></field>"
                                "</x>",
                                &f),
                     0);
    static const struct {
        const char *var;
        int rc;
        bool v;
    } cases[] = {
        { "one", 0, true },        { "true", 0, true },       { "zero", 0, false },
        { "false", 0, false },     { "padded", 0, true },     { "novalue", 0, false },
        { "upper", -EINVAL, 0 },   { "yes", -EINVAL, 0 },     { "empty", -EINVAL, 0 },
        { "two", -EINVAL, 0 },     { "inner", -EINVAL, 0 },   { "absent", -ENOENT, 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        /* Start from the opposite value so a silent no-op cannot pass. */
        bool first = !cases[i].v;
        bool b = first;
        int rc = form_bool(&f, cases[i].var, &b);
        if (rc != cases[i].rc)
            fail_msg("form_bool(%s) = %d, want %d", cases[i].var, rc, cases[i].rc);
        assert_int_equal(b, cases[i].rc == 0 ? cases[i].v : first);
    }
    form_free(&f);
}

static void test_uint(void **state)
{
    struct form f;
    assert_int_equal(parse_form("<x xmlns='jabber:x:data' type='submit'>"
                                "<field var='zero'><value>0</value></field>"
                                "<field var='ten'><value>10</value></field>"
                                "<field var='leading'><value>007</value></field>"
                                "<field var='padded'><value> 42\n</value></field>"
                                "<field var='ulong_max'><value>18446744073709551615</value></field>"
                                "<field var='over'><value>18446744073709551616</value></field>"
                                "<field var='huge_junk'>"
                                "<value>99999999999999999999999x</value></field>"
                                "<field var='neg'><value>-1</value></field>"
                                "<field var='plus'><value>+1</value></field>"
                                "<field var='hex'><value>0x10</value></field>"
                                "<field var='inner'><value>4 2</value></field>"
                                "<field var='empty'><value/></field>"
                                "<field var='blank'><value>  </value></field>"
                                "<field var='novalue'/>"
                                "</x>",
                                &f),
                     0);
    static const struct {
        const char *var;
        unsigned long max;
        int rc;
        unsigned long v;
    } cases[] = {
        { "zero", 0, 0, 0 },
        { "ten", 10, 0, 10 },
        { "ten", 9, -ERANGE, 0 },
        { "leading", 7, 0, 7 },
        { "padded", 100, 0, 42 },
        { "ulong_max", ULONG_MAX, 0, ULONG_MAX },
        { "ulong_max", ULONG_MAX - 1, -ERANGE, 0 },
        { "over", ULONG_MAX, -ERANGE, 0 },
        { "huge_junk", ULONG_MAX, -EINVAL, 0 },
        { "neg", 100, -EINVAL, 0 },
        { "plus", 100, -EINVAL, 0 },
        { "hex", 100, -EINVAL, 0 },
        { "inner", 100, -EINVAL, 0 },
        { "empty", 100, -EINVAL, 0 },
        { "blank", 100, -EINVAL, 0 },
        { "novalue", 100, -ENOENT, 0 },
        { "absent", 100, -ENOENT, 0 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        unsigned long u = 12345;
        int rc = form_uint(&f, cases[i].var, cases[i].max, &u);
        if (rc != cases[i].rc)
            fail_msg("form_uint(%s, %lu) = %d, want %d", cases[i].var, cases[i].max, rc,
                     cases[i].rc);
        assert_int_equal(u, cases[i].rc == 0 ? cases[i].v : 12345);
    }
    form_free(&f);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "<x xmlns='jabber:x:oob' type='submit'/>",
        "<x type='submit'/>",
        "<form xmlns='jabber:x:data' type='submit'/>",
        "<x xmlns='jabber:x:data'/>",
        "<x xmlns='jabber:x:data' type=''/>",
        "<x xmlns='jabber:x:data' type='error'/>",
        "<x xmlns='jabber:x:data' type='Submit'/>",
        "<x xmlns='jabber:x:data' type='submit'><field><value>v</value></field></x>",
        "<x xmlns='jabber:x:data' type='form'><field type='text-single'/></x>",
        "<x xmlns='jabber:x:data' type='form'><field type='hidden'/></x>",
        ("<x xmlns='jabber:x:data' type='submit'>"
         "<field var='a'/><field var='b'/><field var='c'/><field var='a'><value>2</value></field>"
         "</x>"),
        ("<x xmlns='jabber:x:data' type='submit'>"
         "<field var='FORM_TYPE' type='hidden'><value>urn:a</value></field>"
         "<field var='FORM_TYPE' type='hidden'><value>urn:b</value></field></x>"),
        ("<x xmlns='jabber:x:data' type='form'>"
         "<field type='fixed' var='s'/><field type='fixed' var='s'/></x>"),
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct form f;
        memset(&f, 0xa5, sizeof f);
        int rc = parse_form(bad[i], &f);
        if (rc != -EINVAL)
            fail_msg("form_parse(%s) = %d, want -EINVAL", bad[i], rc);
        assert_null(f.type);
        assert_null(f.form_type);
        assert_null(f.fields);
        assert_int_equal(f.nfields, 0);
        form_free(&f);
    }
    struct form f;
    memset(&f, 0xa5, sizeof f);
    assert_int_equal(form_parse(NULL, &f), -EINVAL);
    assert_null(f.type);
    assert_int_equal(f.nfields, 0);
}

static void expect_xml(const struct xml_node *n, const char *want)
{
    char *s = xml_to_string(n, "jabber:component:accept");
    assert_string_equal(s, want);
    free(s);
}

static void test_build(void **state)
{
    struct xml_node *x = form_new("form", "http://jabber.org/protocol/muc#roomconfig",
                                  "Configuration for \"coven\" Room",
                                  "Complete this form & submit");
    form_add_field(x, "fixed", NULL, NULL, "Room basics");
    form_add_field(x, "text-single", "muc#roomconfig_roomname", "Natural-Language Room Name",
                   "A Dark Cave");
    struct xml_node *pm = form_add_field(x, "list-single", "muc#roomconfig_allowpm",
                                         "Who May Send Private Messages?", "anyone");
    form_add_option(pm, "Everyone", "anyone");
    form_add_option(pm, NULL, "none");
    struct xml_node *admins = form_add_field(x, "jid-multi", "muc#roomconfig_roomadmins",
                                             NULL, NULL);
    form_add_value(admins, "wiccarocks@shakespeare.lit");
    form_add_value(admins, "hecate@shakespeare.lit");
    form_add_bool(x, "muc#roomconfig_persistentroom", "Make Room Persistent?", true);
    form_add_bool(x, "muc#roomconfig_publicroom", NULL, false);
    form_add_field(x, "text-private", "muc#roomconfig_roomsecret", "Password", "");
    form_add_field(x, NULL, "untyped", NULL, NULL);
    expect_xml(x, "<x xmlns='jabber:x:data' type='form'>"
                  "<title>Configuration for \"coven\" Room</title>"
                  "<instructions>Complete this form &amp; submit</instructions>"
                  "<field type='hidden' var='FORM_TYPE'>"
                  "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
                  "<field type='fixed'><value>Room basics</value></field>"
                  "<field type='text-single' var='muc#roomconfig_roomname'"
                  " label='Natural-Language Room Name'><value>A Dark Cave</value></field>"
                  "<field type='list-single' var='muc#roomconfig_allowpm'"
                  " label='Who May Send Private Messages?'><value>anyone</value>"
                  "<option label='Everyone'><value>anyone</value></option>"
                  "<option><value>none</value></option></field>"
                  "<field type='jid-multi' var='muc#roomconfig_roomadmins'>"
                  "<value>wiccarocks@shakespeare.lit</value>"
                  "<value>hecate@shakespeare.lit</value></field>"
                  "<field type='boolean' var='muc#roomconfig_persistentroom'"
                  " label='Make Room Persistent?'><value>1</value></field>"
                  "<field type='boolean' var='muc#roomconfig_publicroom'><value>0</value></field>"
                  "<field type='text-private' var='muc#roomconfig_roomsecret' label='Password'>"
                  "<value/></field>"
                  "<field var='untyped'/>"
                  "</x>");
    xml_unref(x);
}

static void test_build_minimal(void **state)
{
    struct xml_node *x = form_new("result", NULL, NULL, NULL);
    expect_xml(x, "<x xmlns='jabber:x:data' type='result'/>");
    form_add_field(x, "text-single", "a", "it's <A>", "x'y\"z");
    expect_xml(x, "<x xmlns='jabber:x:data' type='result'>"
                  "<field type='text-single' var='a' label='it&apos;s &lt;A&gt;'>"
                  "<value>x'y\"z</value></field></x>");
    xml_unref(x);

    x = form_new("submit", NULL, NULL, "Only instructions");
    expect_xml(x, "<x xmlns='jabber:x:data' type='submit'>"
                  "<instructions>Only instructions</instructions></x>");
    xml_unref(x);
}

static void check_round_trip_form(const struct form *f)
{
    assert_string_equal(f->type, "submit");
    assert_string_equal(f->form_type, "http://jabber.org/protocol/muc#roomconfig");
    assert_int_equal(f->nfields, 6);
    assert_string_equal(form_value(f, "name"), "Caf\xc3\xa9 <&> 'q'");
    const struct form_field *m = form_get(f, "multi");
    assert_int_equal(m->nvalues, 3);
    assert_string_equal(m->values[0], "one");
    assert_string_equal(m->values[1], "");
    assert_string_equal(m->values[2], "three");
    bool b = false;
    assert_int_equal(form_bool(f, "flag", &b), 0);
    assert_true(b);
    assert_int_equal(form_bool(f, "off", &b), 0);
    assert_false(b);
    unsigned long u = 0;
    assert_int_equal(form_uint(f, "max", 100, &u), 0);
    assert_int_equal(u, 30);
}

/* Built, serialised, read back by the stream parser and parsed again. */
static void test_round_trip(void **state)
{
    struct xml_node *x = form_new("submit", "http://jabber.org/protocol/muc#roomconfig", NULL,
                                  NULL);
    form_add_field(x, NULL, "name", NULL, "Caf\xc3\xa9 <&> 'q'");
    struct xml_node *multi = form_add_field(x, "text-multi", "multi", NULL, "one");
    form_add_value(multi, "");
    form_add_value(multi, "three");
    form_add_bool(x, "flag", NULL, true);
    form_add_bool(x, "off", NULL, false);
    form_add_field(x, NULL, "max", NULL, "30");

    struct form direct;
    assert_int_equal(form_parse(x, &direct), 0);
    check_round_trip_form(&direct);
    form_free(&direct);

    char *s = xml_to_string(x, "jabber:component:accept");
    struct form reread;
    assert_int_equal(parse_form(s, &reread), 0);
    check_round_trip_form(&reread);
    form_free(&reread);
    free(s);
    xml_unref(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_roomconfig),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_form_type_hidden),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_uint),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_build_minimal),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
