/* retract.c — tombstones of messages taken down (retract.h). */
#include "compat.h"

#include "datetime.h"
#include "retract.h"

#define NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"

void retract_add_moderated(struct xml_node *parent, const char *ns, const struct retraction *r)
{
    struct xml_node *md = xml_add(parent, "moderated", ns);
    xml_set_attr(md, "by", r->by);
    if (r->actor_oid)
        xml_set_attr(xml_add(md, "occupant-id", NS_OCCUPANT_ID), "id", r->actor_oid);
}

void retract_add(struct xml_node *msg, const struct retraction *r)
{
    bool reason = r->reason && *r->reason;
    char stamp[DATETIME_FMT_MAX];
    datetime_format(r->now, stamp);
    struct xml_node *rd = xml_add(msg, "retracted", NS_RETRACT);
    xml_set_attr(rd, "stamp", stamp);
    if (!r->self)
        retract_add_moderated(rd, NS_MODERATE, r);
    if (reason)
        xml_add_text_child(rd, "reason", NS_RETRACT, r->reason);
    struct xml_node *old = msg;
    if (!r->self) {
        old = xml_add(msg, "moderated", NS_MODERATE0);
        xml_set_attr(old, "by", r->by);
    }
    xml_set_attr(xml_add(old, "retracted", NS_RETRACT0), "stamp", stamp);
    if (reason && !r->self)
        xml_add_text_child(old, "reason", NS_MODERATE0, r->reason);
}
