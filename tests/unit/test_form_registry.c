/* The forms confabd emits against the XMPP Registrar's field registry, read
 * at test time from the XEP texts (XEP-0045 §15.5 and the XEPs that add
 * fields to its FORM_TYPEs, such as XEP-0486): every field of the muc#roomconfig,
 * muc#roominfo, muc#register and muc#request forms must carry the var and type
 * registered for its FORM_TYPE (XEP-0068), or be a custom field (x- prefix or
 * a URI namespace). Clients that validate forms against the registry refuse a
 * whole form over one wrong type, so one is a failure.
 *
 * The forms are built by the engine itself, driven through muc_handle() and
 * owner_config_form(), not copied from the sources. */
#include "muc_harness.h"

#include <dirent.h>

#include "form.h"

/* Where the XEP texts are: $XEP_SPECS_DIR, else the build's default. */
#ifndef XEP_SPECS_DIR
#error "XEP_SPECS_DIR must name the directory of the XEP texts (xep-0045.xml)"
#endif

#define ROOM "coven@" DOMAIN
#define BOB "hag@shakespeare.example/pda"

/* ---- the registry, parsed from <form_type/> registry submissions ---- */

struct reg_field {
    char *form_type;
    char *var;
    char *type;
    char *doc;          /* the file it came from, for messages */
};

static struct {
    struct reg_field *f;
    size_t n, cap;
} reg;

static const char *specs_dir(void)
{
    const char *d = getenv("XEP_SPECS_DIR");
    return d && *d ? d : XEP_SPECS_DIR;
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *text = NULL;
    size_t n = 0, k;
    char chunk[8192];
    while ((k = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        text = xrealloc(text, n + k + 1);
        memcpy(text + n, chunk, k);
        n += k;
    }
    fclose(fp);
    text = xrealloc(text, n + 1);
    text[n] = '\0';
    return text;
}

/* The value of attribute name='…' (or "…") inside [tag, end), or NULL. */
static char *attr_in(const char *tag, const char *end, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = tag; p && p < end; p++) {
        p = strstr(p, name);
        if (!p || p >= end)
            return NULL;
        bool word_start = p > tag && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t' ||
                                      p[-1] == '\r');
        const char *q = p + len;
        while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
            q++;
        if (!word_start || *q != '=')
            continue;
        q++;
        while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
            q++;
        if (*q != '\'' && *q != '"')
            continue;
        const char *close = strchr(q + 1, *q);
        if (!close || close > end)
            return NULL;
        return xstrndup(q + 1, (size_t)(close - q - 1));
    }
    return NULL;
}

static char *element_text(const char *from, const char *end, const char *name)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *a = strstr(from, open);
    if (!a || a > end)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b || b > end)
        return NULL;
    while (a < b && strchr(" \n\t\r", *a))
        a++;
    while (b > a && strchr(" \n\t\r", b[-1]))
        b--;
    return xstrndup(a, (size_t)(b - a));
}

static void reg_add(const char *form_type, char *var, char *type, const char *doc)
{
    if (reg.n == reg.cap) {
        reg.cap = reg.cap ? reg.cap * 2 : 64;
        reg.f = xrealloc(reg.f, reg.cap * sizeof *reg.f);
    }
    /* XEP-0004 §3.3: a field without a type is text-single. */
    reg.f[reg.n++] = (struct reg_field){ xstrdup(form_type), var,
                                         type ? type : xstrdup("text-single"), xstrdup(doc) };
}

/* Every <form_type> block of one XEP: its <name/> and <field var type/>s. */
static size_t parse_registry(const char *text, const char *doc)
{
    size_t before = reg.n;
    for (const char *p = strstr(text, "<form_type>"); p; p = strstr(p, "<form_type>")) {
        const char *end = strstr(p, "</form_type>");
        assert_non_null(end);
        char *name = element_text(p, end, "name");
        assert_non_null(name);
        for (const char *f = strstr(p, "<field"); f && f < end; f = strstr(f + 1, "<field")) {
            if (!strchr(" \n\t\r", f[6]))
                continue; /* <fields>, not a field */
            const char *fend = strchr(f, '>');
            assert_true(fend && fend < end);
            char *var = attr_in(f, fend, "var");
            assert_non_null(var);
            reg_add(name, var, attr_in(f, fend, "type"), doc);
        }
        free(name);
        p = end;
    }
    return reg.n - before;
}

static bool is_xep_file(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "xep-", 4) == 0 && n > 8 && strcmp(name + n - 4, ".xml") == 0;
}

/* XEP-0045 is required: without it the test would prove nothing, so a missing
 * file fails rather than skips. */
static void load_registry(void)
{
    const char *dir = specs_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/xep-0045.xml", dir);
    char *text = read_file(path);
    if (!text)
        fail_msg("cannot read %s: the field registry comes from the XEP text "
                 "(set XEP_SPECS_DIR to the directory holding xep-0045.xml)", path);
    size_t n45 = parse_registry(text, "xep-0045.xml");
    free(text);
    /* XEP-0045 registers 7 + 4 + 21 + 9 fields (§15.5.1–§15.5.4). */
    assert_int_equal(n45, 41);
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_xep_file(e->d_name) || strcmp(e->d_name, "xep-0045.xml") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        text = read_file(path);
        assert_non_null(text);
        parse_registry(text, e->d_name);
        free(text);
    }
    closedir(d);
}

static void free_registry(void)
{
    for (size_t i = 0; i < reg.n; i++) {
        free(reg.f[i].form_type);
        free(reg.f[i].var);
        free(reg.f[i].type);
        free(reg.f[i].doc);
    }
    free(reg.f);
    memset(&reg, 0, sizeof reg);
}

static const struct reg_field *reg_find(const char *form_type, const char *var)
{
    for (size_t i = 0; i < reg.n; i++)
        if (strcmp(reg.f[i].form_type, form_type) == 0 && strcmp(reg.f[i].var, var) == 0)
            return &reg.f[i];
    return NULL;
}

/* ---- the engine (muc_harness), with every outgoing stanza kept ---- */

static const unsigned char key[32] = { 9, 8, 7 };
static struct fx_opts opts = { .key = key };

/* The data form with that FORM_TYPE in whatever the engine sent to `to`. */
static struct xml_node *find_form(const struct xml_node *n, const char *form_type)
{
    if (strcmp(n->name, "x") == 0 && n->ns && strcmp(n->ns, NS_DATA_FORMS) == 0) {
        for (struct xml_node *f = xml_first(n); f; f = xml_next(f)) {
            const char *var = xml_attr(f, "var");
            if (var && strcmp(var, "FORM_TYPE") == 0 && xml_first(f)) {
                char *v = xml_text(xml_first(f));
                bool yes = strcmp(v, form_type) == 0;
                free(v);
                if (yes)
                    return (struct xml_node *)n;
            }
        }
    }
    for (struct xml_node *c = xml_first(n); c; c = xml_next(c)) {
        struct xml_node *x = find_form(c, form_type);
        if (x)
            return x;
    }
    return NULL;
}

static struct xml_node *sent_form(const char *to, const char *form_type)
{
    for (size_t i = 0; i < fx.n; i++) {
        const char *t = stanza_to(fx.out[i].st);
        struct xml_node *x = t && strcmp(t, to) == 0 ? find_form(fx.out[i].st, form_type) : NULL;
        if (x)
            return xml_ref(x);
    }
    fail_msg("no %s form was sent to %s", form_type, to);
    return NULL;
}

static int setup(void **state)
{
    fx_setup(state);
    load_registry();
    /* A moderated room with an owner and a visitor, so that every form exists. */
    fx_in("<presence from='" OWNER "' to='" ROOM "/owner'><x xmlns='" NS_MUC "'/></presence>");
    fx_in("<iq type='set' id='c1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER "'>"
          "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" NS_MUC_ROOMCONFIG
          "</value></field><field var='muc#roomconfig_moderatedroom'><value>1</value></field>"
          "<field var='muc#roomconfig_roomname'><value>A Dark Cave</value></field>"
          "</x></query></iq>");
    fx_in("<presence from='" BOB "' to='" ROOM "/bob'><x xmlns='" NS_MUC "'/></presence>");
    fx_clear();
    return 0;
}

static int teardown(void **state)
{
    free_registry();
    return fx_teardown(state);
}

/* ---- the check ---- */

static const char *const FIELD_TYPES[] = {
    "boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi", "list-single",
    "text-multi", "text-private", "text-single",
};

static bool known_type(const char *t)
{
    for (size_t i = 0; i < ARRAY_SIZE(FIELD_TYPES); i++)
        if (strcmp(t, FIELD_TYPES[i]) == 0)
            return true;
    return false;
}

/* XEP-0068 §3: an unregistered field is x- prefixed (legacy) or namespaced by a
 * URI, in Clark notation or as a URI itself. */
static bool custom_var(const char *var)
{
    return strncmp(var, "x-", 2) == 0 || strncmp(var, "{", 1) == 0 ||
           strncmp(var, "http://", 7) == 0 || strncmp(var, "https://", 8) == 0 ||
           strncmp(var, "urn:", 4) == 0;
}

/* A list field of a form to fill in offers each value it holds. */
static void check_list_values(const struct xml_node *field, const char *var)
{
    for (struct xml_node *v = xml_first(field); v; v = xml_next(v)) {
        if (strcmp(v->name, "value") != 0)
            continue;
        char *t = xml_text(v);
        bool ok = field_has_option(field, t);
        if (!ok)
            print_error("%s: value '%s' is not among its options\n", var, t);
        free(t);
        assert_true(ok);
    }
}

/* The hidden FORM_TYPE field comes first (XEP-0068 §4) with exactly one value. */
static void check_form_type(const struct xml_node *x, const char *form_type)
{
    struct xml_node *f = xml_first(x);
    while (f && strcmp(f->name, "field") != 0)
        f = xml_next(f);
    assert_non_null(f);
    assert_string_equal(xml_attr(f, "var"), "FORM_TYPE");
    assert_string_equal(xml_attr(f, "type"), "hidden");
    int nvalues = 0;
    for (struct xml_node *v = xml_first(f); v; v = xml_next(v))
        if (strcmp(v->name, "value") == 0) {
            char *t = xml_text(v);
            assert_string_equal(t, form_type);
            free(t);
            nvalues++;
        }
    assert_int_equal(nvalues, 1);
}

/* One field: registered for form_type (or for also, when not NULL) with the
 * same type, or custom with a valid XEP-0004 type. Returns false and says why. */
static bool field_ok(const char *form_type, const char *also, const char *var, const char *type)
{
    /* XEP-0004 §3.3: without a type, text-single. */
    const char *t = type ? type : "text-single";
    if (!known_type(t)) {
        print_error("%s: '%s' is not an XEP-0004 field type\n", var, t);
        return false;
    }
    if (custom_var(var))
        return true;
    const struct reg_field *r = reg_find(form_type, var);
    if (!r && also)
        r = reg_find(also, var);
    if (!r) {
        print_error("%s: not registered for %s, and not x- or URI-prefixed\n", var, form_type);
        return false;
    }
    if (strcmp(r->type, t) != 0) {
        print_error("%s: type %s, but %s registers %s\n", var, t, r->doc, r->type);
        return false;
    }
    return true;
}

static void check_form(const struct xml_node *x, const char *xtype, const char *form_type,
                       const char *also)
{
    assert_non_null(x);
    assert_string_equal(xml_attr(x, "type"), xtype);
    check_form_type(x, form_type);
    bool ok = true;
    size_t nfields = 0;
    for (struct xml_node *f = xml_first(x); f; f = xml_next(f)) {
        if (strcmp(f->name, "field") != 0)
            continue;
        const char *var = xml_attr(f, "var");
        assert_non_null(var);
        if (strcmp(var, "FORM_TYPE") == 0)
            continue;
        nfields++;
        ok &= field_ok(form_type, also, var, xml_attr(f, "type"));
        const char *t = xml_attr(f, "type");
        if (strcmp(xtype, "form") == 0 && t && strncmp(t, "list-", 5) == 0)
            check_list_values(f, var);
    }
    assert_true(nfields > 0);
    assert_true(ok);
    /* XEP-0004 §3.2: vars are unique within a form. */
    struct form parsed_form;
    assert_int_equal(form_parse(x, &parsed_form), 0);
    form_free(&parsed_form);
}

/* The one form sent to `to` of FORM_TYPE form_type checks out (as check_form). */
static void check_sent_form(const char *to, const char *xtype, const char *form_type,
                            const char *also)
{
    struct xml_node *x = sent_form(to, form_type);
    check_form(x, xtype, form_type, also);
    xml_unref(x);
}

/* ---- tests ---- */

/* The registry as read: the parser found what §15.5 says, including the types
 * confabd once got wrong (roomdesc text-single, maxusers list-single). */
static void test_registry_parsed_from_xep_0045(void **state)
{
    const struct reg_field *r = reg_find(NS_MUC_ROOMCONFIG, "muc#roomconfig_roomdesc");
    assert_non_null(r);
    assert_string_equal(r->type, "text-single");
    r = reg_find(NS_MUC_ROOMCONFIG, "muc#roomconfig_maxusers");
    assert_non_null(r);
    assert_string_equal(r->type, "list-single");
    r = reg_find(NS_MUC_ROOMINFO, "muc#roominfo_subjectmod");
    assert_non_null(r);
    assert_string_equal(r->type, "boolean");
    assert_non_null(reg_find(NS_MUC_REGISTER, "muc#register_roomnick"));
    assert_non_null(reg_find(NS_MUC_REQUEST, "muc#request_allow"));
    assert_null(reg_find(NS_MUC_ROOMCONFIG, "muc#roomconfig_historylength"));
}

/* §10.1.3/§15.5.3: the owner's configuration form, through owner_config_form()
 * and through the muc#owner IQ. */
static void test_15_5_3_roomconfig_form(void **state)
{
    struct room *room = room_find(fx.m, ROOM);
    assert_non_null(room);
    struct xml_node *x = owner_config_form(fx.m, room);
    check_form(x, "form", NS_MUC_ROOMCONFIG, NULL);
    xml_unref(x);

    fx_in("<iq type='get' id='g1' from='" OWNER "' to='" ROOM "'><query xmlns='" NS_MUC_OWNER
          "'/></iq>");
    check_sent_form(OWNER, "form", NS_MUC_ROOMCONFIG, NULL);
}

/* §6.4/§15.5.4: the disco#info extension; §6.4 lets it carry muc#roomconfig fields. */
static void test_15_5_4_roominfo_form(void **state)
{
    fx_in("<iq type='get' id='d1' from='" BOB "' to='" ROOM "'><query xmlns='" NS_DISCO_INFO
          "'/></iq>");
    check_sent_form(BOB, "result", NS_MUC_ROOMINFO, NS_MUC_ROOMCONFIG);
}

/* §7.10/§15.5.1: the registration form. */
static void test_15_5_1_register_form(void **state)
{
    fx.m->lim.register_unaffiliated = true;   /* bob is not affiliated */
    fx_in("<iq type='get' id='r1' from='" BOB "' to='" ROOM "'><query xmlns='" NS_REGISTER
          "'/></iq>");
    check_sent_form(BOB, "form", NS_MUC_REGISTER, NULL);
}

/* §8.6/§15.5.2: the voice request form the moderators get. */
static void test_15_5_2_request_form(void **state)
{
    fx_in("<message id='v1' from='" BOB "' to='" ROOM "'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE'><value>" NS_MUC_REQUEST "</value></field>"
          "<field var='muc#role' type='list-single'><value>participant</value></field></x>"
          "</message>");
    check_sent_form(OWNER, "form", NS_MUC_REQUEST, NULL);
}

#define T(f) cmocka_unit_test_prestate_setup_teardown(f, setup, teardown, &opts)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_registry_parsed_from_xep_0045),
        T(test_15_5_3_roomconfig_form),
        T(test_15_5_4_roominfo_form),
        T(test_15_5_1_register_form),
        T(test_15_5_2_request_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
