-- mod_confab_tap: copy every message stanza that passes a client connection
-- (c2s) of this host to confab-archiver, for the compliance record of 1:1
-- messages. Prosody 0.12+.
--
-- Each copy is an IQ set to the archiver (docs/compliance-protocol.md):
--
--   <iq type='set' from='example.com' to='archive.example.com' id='tap-UUID'>
--     <tap xmlns='urn:confab:compliance:0' id='UUID' direction='in|out'
--          time='2024-05-01T10:00:00.123Z' session='alice@example.com/laptop'>
--       <forwarded xmlns='urn:xmpp:forward:0'>
--         <delay xmlns='urn:xmpp:delay' stamp='2024-05-01T10:00:00.123Z'/>
--         <message xmlns='jabber:client' from=… to=… type=…>…</message>
--       </forwarded>
--     </tap>
--   </iq>
--
-- direction='in': the message as the user sent it (received from the client);
-- direction='out': as it was delivered to the user (sent to the client). A
-- message between two local users is copied twice, as Cisco's Message
-- Archiver logs it; the archiver gives both copies one message key, and
-- decides what is recorded at all: copies to or from confab's room services
-- (confabd records those), bounces without text and, unless asked for, chat
-- states are acknowledged and not stored (docs/compliance.md, "What a tap
-- copy becomes"), whatever tap or router sent them. The archiver answers
-- 'result' once the copy is committed; copies it could not take
-- (type='wait' errors, timeouts, the archiver being offline) are sent again,
-- with the same UUID, so a copy is stored once.
--
-- Configuration (docs/compliance.md):
--   modules_enabled = { …, "confab_tap" }
--   plugin_paths = { "/usr/share/confab/contrib/prosody" }
--   confab_tap_archiver = "archive.example.com"   -- required
--   confab_tap_inbound = true        -- copy what users send
--   confab_tap_outbound = true       -- copy what users receive (Cisco's
--                                    -- "Enable Outbound Message Logging")
--   confab_tap_groupchat = false     -- also copy type='groupchat' (confabd
--                                    -- already records room traffic)
--   confab_tap_require_body = false  -- do not even send messages without
--                                    -- <body/> (the archiver keeps what has
--                                    -- content of its own: reactions, errors
--                                    -- with text; this option drops them)
--   confab_tap_max_pending = 10000   -- copies kept for retry; beyond, the
--                                    -- oldest is dropped and logged
--   confab_tap_retry = 5             -- seconds before a copy is sent again
--   confab_tap_timeout = 30          -- seconds to wait for the archiver

local st = require "util.stanza";
local filters = require "util.filters";
local jid_bare = require "util.jid".bare;
local new_uuid = require "util.uuid".generate;
local time_now = require "util.time".now;

local NS_TAP = "urn:confab:compliance:0";
local NS_FORWARD = "urn:xmpp:forward:0";
local NS_DELAY = "urn:xmpp:delay";

local archiver = module:get_option_string("confab_tap_archiver");
local tap_inbound = module:get_option_boolean("confab_tap_inbound", true);
local tap_outbound = module:get_option_boolean("confab_tap_outbound", true);
local tap_groupchat = module:get_option_boolean("confab_tap_groupchat", false);
local require_body = module:get_option_boolean("confab_tap_require_body", false);
local max_pending = module:get_option_number("confab_tap_max_pending", 10000);
local retry_after = module:get_option_number("confab_tap_retry", 5);
local timeout = module:get_option_number("confab_tap_timeout", 30);

if not archiver then
	module:log("error", "confab_tap_archiver is not set: no message is copied");
	return;
end

local host = module.host;

-- Copies sent and not yet acknowledged: id -> { iq, due, tries }.
local pending, npending = {}, 0;
local order = {}; -- ids in the order they were first sent (for eviction)

local function stamp(t)
	local secs = math.floor(t);
	return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", math.floor((t - secs) * 1000));
end

local function forget(id)
	if pending[id] then
		pending[id] = nil;
		npending = npending - 1;
	end
end

local function evict_oldest()
	while npending >= max_pending and #order > 0 do
		local id = table.remove(order, 1);
		if pending[id] then
			module:log("error", "confab tap: %d copies waiting for the archiver; dropping the oldest (%s)",
				npending, id);
			forget(id);
		end
	end
end

local function transmit(id)
	local p = pending[id];
	p.tries = p.tries + 1;
	p.due = time_now() + timeout;
	module:send(st.clone(p.iq));
end

local function wanted(stanza)
	if stanza.name ~= "message" then return false; end
	local t = stanza.attr.type or "normal";
	if t == "groupchat" and not tap_groupchat then return false; end
	if require_body and not stanza:get_child("body") then return false; end
	-- never copy traffic with the archiver itself
	local to, from = stanza.attr.to, stanza.attr.from;
	if to == archiver or from == archiver then return false; end
	return true;
end

local function copy(session, stanza, direction)
	local now = time_now();
	local c = st.clone(stanza);
	c.attr.xmlns = "jabber:client";
	if direction == "in" and not c.attr.from then
		c.attr.from = session.full_jid;
	end
	local id = new_uuid();
	local iq = st.iq({ type = "set", from = host, to = archiver, id = "tap-" .. id })
		:tag("tap", { xmlns = NS_TAP, id = id, direction = direction, time = stamp(now),
			session = session.full_jid })
			:tag("forwarded", { xmlns = NS_FORWARD })
				:tag("delay", { xmlns = NS_DELAY, stamp = stamp(now) }):up()
				:add_child(c);
	evict_oldest();
	pending[iq.attr.id] = { iq = iq, due = 0, tries = 0 };
	npending = npending + 1;
	table.insert(order, iq.attr.id);
	transmit(iq.attr.id);
end

local function ours(session)
	return session.type == "c2s" and session.host == host and session.full_jid;
end

local function filter_in(stanza, session)
	if tap_inbound and ours(session) and wanted(stanza) then
		copy(session, stanza, "in");
	end
	return stanza;
end

-- What the server says to a user on its own behalf: no 'from', or the user's
-- own bare JID (MAM results, carbon copies, PEP notifications). Their content
-- was copied when it passed as a message between users; copying it again
-- duplicates it (carbons) or makes sender-less events the archiver refuses
-- (MAM). A client cannot forge this: the server stamps 'from' on what users
-- send, so user-to-user traffic is never skipped.
local function from_own_server(stanza, session)
	local from = stanza.attr.from;
	return not from or jid_bare(from) == jid_bare(session.full_jid);
end

local function filter_out(stanza, session)
	if tap_outbound and ours(session) and wanted(stanza) and not from_own_server(stanza, session) then
		copy(session, stanza, "out");
	end
	return stanza;
end

-- Last on the way in (what the server accepted), last on the way out.
local function add_filters(session)
	filters.add_filter(session, "stanzas/in", filter_in, -1000);
	filters.add_filter(session, "stanzas/out", filter_out, -1000);
end

filters.add_filter_hook(add_filters);

local function each_session(fn)
	local h = prosody.hosts[host];
	for _, user in pairs(h and h.sessions or {}) do
		for _, session in pairs(user.sessions or {}) do
			fn(session);
		end
	end
end

each_session(add_filters); -- sessions that were there before a (re)load

function module.unload()
	filters.remove_filter_hook(add_filters);
	each_session(function (session)
		filters.remove_filter(session, "stanzas/in", filter_in);
		filters.remove_filter(session, "stanzas/out", filter_out);
	end);
	if npending > 0 then
		module:log("warn", "confab tap unloaded with %d copies not acknowledged by the archiver", npending);
	end
end

-- The archiver's answers.
module:hook("iq/host", function (event)
	local stanza = event.stanza;
	local id, t = stanza.attr.id, stanza.attr.type;
	if (t ~= "result" and t ~= "error") or not id or not pending[id] or stanza.attr.from ~= archiver then
		return;
	end
	if t == "result" then
		forget(id);
		return true;
	end
	local etype, condition, text = stanza:get_error();
	if etype == "wait" then
		pending[id].due = time_now() + retry_after;
		module:log("debug", "confab tap: archiver answered wait (%s) for %s; retrying", condition, id);
	else
		module:log("error", "confab tap: archiver refused copy %s: %s/%s %s", id, etype, condition,
			text or "");
		forget(id);
	end
	return true;
end, 100);

-- Send again what was refused with 'wait' or never answered.
module:add_timer(1, function ()
	local now = time_now();
	for id, p in pairs(pending) do
		if p.due <= now then
			if p.tries > 0 and p.due ~= 0 then
				module:log("debug", "confab tap: sending copy %s again (try %d)", id, p.tries + 1);
			end
			transmit(id);
		end
	end
	-- keep the eviction list short
	if #order > 2 * npending + 100 then
		local kept = {};
		for _, id in ipairs(order) do
			if pending[id] then table.insert(kept, id); end
		end
		order = kept;
	end
	return 1;
end);

module:log("info", "copying c2s messages (in: %s, out: %s) to %s", tostring(tap_inbound),
	tostring(tap_outbound), archiver);
