-- mod_confab_multicast: XEP-0033 (Extended Stanza Addressing) for the
-- components of this Prosody, so confabd hands Prosody one room broadcast
-- with an address list instead of one stanza per occupant. Prosody 0.12+.
--
-- Loaded on a VirtualHost (or globally), the host itself is the multicast
-- service: its disco#info offers http://jabber.org/protocol/address, with a
-- XEP-0128 form saying how many addresses one stanza may carry. confabd finds
-- it by itself ([component] multicast = auto, docs/prosody.md).
--
--   <message from='room@muc.example.com/alice' to='example.com' type='groupchat'>
--     <body>hi</body>
--     <addresses xmlns='http://jabber.org/protocol/address'>
--       <address type='bcc' jid='bob@example.com/phone'/> …
--     </addresses>
--   </message>
--
-- Who may use it: components of this Prosody (all, or those listed); clients
-- and remote servers get <forbidden/> — a user must not spray copies.
--
-- Delivery keeps Prosody's semantics for a stanza routed to a local user: each
-- copy goes through core_post_stanza exactly as mod_muc's copies do (one shared
-- stanza, 'to' set per recipient, as mod_muc's room:route_to_occupant), so
-- mod_blocklist (XEP-0191), carbons, offline handling, remote domains and the
-- bounce for a recipient who is gone behave as for any routed stanza. Only the
-- last step is cheaper: the copy is serialised once, and a plain c2s session
-- (no outgoing stanza filter: no stream management, CSI not holding, no
-- websocket/BOSH) gets those bytes with its own 'to', instead of Prosody
-- serialising the stanza again for every recipient. Sessions with filters
-- (mod_smacks' queue, mod_csi_simple's buffer, …) get the stanza object
-- through session.send, as mod_message would give it.
--
-- A recipient that cannot take its copy answers with an error of its own, from
-- its own address to the original sender, without the address list (the
-- addresses were 'bcc', XEP-0033 §4.6); the other recipients still get theirs.
-- Errors about the whole stanza (forbidden, not-acceptable for too many
-- addresses, bad-request) come from the service, and nothing is delivered.
--
-- Configuration (docs/prosody.md):
--   modules_enabled = { …, "confab_multicast" }
--   plugin_paths = { "/usr/share/confab/prosody" }
--   confab_multicast_components = { "muc.example.com" } -- default: every
--                                   -- component of this Prosody
--   confab_multicast_max_addresses = 100  -- per stanza (advertised in disco)

local st = require "util.stanza";
local jid_prep = require "util.jid".prep;
local dataforms = require "util.dataforms";

local xml_escape = st.xml_escape;
local core_post_stanza = prosody.core_post_stanza;
local full_sessions = prosody.full_sessions;
local hosts = prosody.hosts;

local NS_ADDRESS = "http://jabber.org/protocol/address";
-- The pre-serialised copy rides on the shared stanza under this key, for the
-- delivery hook of whichever host the recipient is on.
local PREBUILT = "confab_multicast_prebuilt";

local allowed = module:get_option_set("confab_multicast_components");
local max_addresses = module:get_option_number("confab_multicast_max_addresses", 100);

module:add_feature(NS_ADDRESS);
module:add_extension(dataforms.new({
	{ name = "FORM_TYPE", type = "hidden", value = NS_ADDRESS };
	{ name = "message", type = "text-single" };
	{ name = "presence", type = "text-single" };
}):form({ message = tostring(max_addresses), presence = tostring(max_addresses) }, "result"));

-- Totals since load, in the debug log line of each fan-out.
local stats = { stanzas = 0, copies = 0, prebuilt = 0 };

local function may_use(origin)
	if origin.type ~= "component" then return false; end
	local h = hosts[origin.host];
	if not h or h.type ~= "component" then return false; end
	return allowed == nil or allowed:contains(origin.host);
end

local function refuse(origin, stanza, kind, condition, text)
	if stanza.attr.type ~= "error" then
		origin.send(st.error_reply(stanza, kind, condition, text));
	end
	return true;
end

-- The recipients (deduplicated, prepped) and what every copy carries of the
-- address list: 'to'/'cc' marked delivered and the other kinds, never 'bcc'.
local function read_addresses(addresses)
	local recipients, seen, keep = {}, {}, {};
	for address in addresses:childtags("address", NS_ADDRESS) do
		local a = address.attr;
		local kind = a.type;
		if kind == "to" or kind == "cc" or kind == "bcc" then
			if a.delivered ~= "true" then
				if a.uri or not a.jid then
					return nil, "jid-malformed", "only 'jid' addresses are supported";
				end
				local jid = full_sessions[a.jid] and a.jid or jid_prep(a.jid);
				if not jid then
					return nil, "jid-malformed", "invalid address: " .. a.jid;
				end
				if not seen[jid] then
					seen[jid] = true;
					recipients[#recipients + 1] = jid;
				end
			end
			if kind ~= "bcc" then
				local copy = st.clone(address);
				copy.attr.delivered = "true";
				keep[#keep + 1] = copy;
			end
		else
			keep[#keep + 1] = address;
		end
	end
	return recipients, keep;
end

local function fan_out(event)
	local origin, stanza = event.origin, event.stanza;
	local addresses = stanza:get_child("addresses", NS_ADDRESS);
	if not addresses then return; end -- not ours
	if stanza.attr.type == "error" then return true; end -- never multicast errors
	if not may_use(origin) then
		module:log("debug", "Refusing XEP-0033 from %s (%s)", stanza.attr.from, origin.type);
		return refuse(origin, stanza, "auth", "forbidden",
			"This multicast service is for the components of this server");
	end
	local recipients, keep, text = read_addresses(addresses);
	if not recipients then
		return refuse(origin, stanza, "modify", keep, text);
	end
	if #recipients == 0 then
		return refuse(origin, stanza, "modify", "bad-request", "No address to deliver to");
	end
	if #recipients > max_addresses then
		return refuse(origin, stanza, "modify", "not-acceptable",
			"Too many receiver fields were specified (at most " .. max_addresses .. ")");
	end

	-- One copy for everybody (every address was bcc, or all see the same list).
	local copy = st.clone(stanza);
	copy:maptags(function (tag)
		if tag.name == "addresses" and tag.attr.xmlns == NS_ADDRESS then return nil; end
		return tag;
	end);
	if #keep > 0 then
		local list = st.stanza("addresses", { xmlns = NS_ADDRESS });
		for _, a in ipairs(keep) do list:add_child(a); end
		copy:add_child(list);
	end
	copy.attr.to = nil;
	-- Serialised once: "<message" .. " to='…'" .. the rest, per recipient.
	local name = copy.name;
	local serialised = tostring(copy);
	copy[PREBUILT] = { head = "<" .. name .. " to='", tail = "'" .. serialised:sub(#name + 2) };

	for i = 1, #recipients do
		copy.attr.to = recipients[i];
		core_post_stanza(origin, copy);
	end
	copy.attr.to = nil;
	copy[PREBUILT] = nil;
	stats.stanzas = stats.stanzas + 1;
	stats.copies = stats.copies + #recipients;
	module:log("debug", "XEP-0033 from %s: %d copies (totals: %d stanzas, %d copies, %d pre-serialised)",
		stanza.attr.from, #recipients, stats.stanzas, stats.copies, stats.prebuilt);
	return true;
end

module:hook("message/host", fan_out, 10);
module:hook("presence/host", fan_out, 10);

-- The last step of delivery to a local session, in place of mod_message's
-- (message/full, -1) and mod_presence's (presence/full, 0) session.send: only
-- for our copies, only for sessions that would send the stanza unchanged.
-- Everything hooked above (mod_blocklist at 100, mod_carbons at -0.5, …) has
-- run by then; returning nothing hands the copy back to Prosody's own step.
local function deliver_prebuilt(event)
	local stanza = event.stanza;
	local pre = rawget(stanza, PREBUILT);
	if not pre then return; end
	local to = stanza.attr.to;
	local session = full_sessions[to];
	if not session or session.type ~= "c2s" or session.hibernating or session.destroyed
		or not session.conn or session.bosh_version or session.websocket_request then
		return;
	end
	local filters = session.filters;
	local out = filters and filters["stanzas/out"];
	if out and out[1] then return; end -- stream management, CSI, … must see the stanza
	if session.send(pre.head .. xml_escape(to) .. pre.tail) then
		stats.prebuilt = stats.prebuilt + 1;
		return true;
	end
end

module:hook("message/full", deliver_prebuilt, -0.75);
module:hook("presence/full", function (event)
	local t = event.stanza.attr.type;
	if t == nil or t == "unavailable" then
		return deliver_prebuilt(event);
	end
end, 0.5);

module:log("info", "XEP-0033 multicast service at %s: %d addresses per stanza, for %s",
	module.host, max_addresses, allowed and tostring(allowed) or "every component");
