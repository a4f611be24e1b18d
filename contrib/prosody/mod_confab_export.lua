-- mod_confab_export: writes every room of a Prosody `muc` component in confab's import format.
--
--   prosodyctl mod_confab_export <muc-host> <out-file>
--   confabctl -c /etc/confab/confab.ini import <out-file>
--
-- A prosodyctl command (module.command, Prosody 0.12): Prosody need not be
-- running, and it reads the component's own stores — the rooms (`config`,
-- `persistent`), their affiliations with registered nicks, subject, and the
-- muc_mam archive (`muc_log`) — through Prosody's storage layer, whatever
-- driver the configuration names (internal, sql). The format is confab's
-- docs/export-format.md, version 1: JSON lines, a header, a `room` record per
-- room followed by its messages in archive order (seq 1, 2, ...), `tombstone`
-- records for destroyed rooms, and an `end` record with the counts.
--
-- What Prosody never stored cannot be exported: the real JID of a message's
-- sender in a room that was not whois=anyone (the registered nick's owner is
-- used when the nick is registered, else the occupant JID room@host/nick), and
-- the room's creation time.

local json = require "util.json";
local jid_split, jid_bare, jid_resource = require "util.jid".split, require "util.jid".bare,
	require "util.jid".resource;
local st = require "util.stanza";

local NS_MUC_USER = "http://jabber.org/protocol/muc#user";
local NS_SID = "urn:xmpp:sid:0";

local function iso(t)
	if not t then return nil; end
	local secs = math.floor(t);
	return os.date("!%Y-%m-%dT%H:%M:%S", secs) .. string.format(".%03dZ", math.floor((t - secs) * 1000));
end

local function roles_of(broadcast)
	if not broadcast then return { "moderator", "participant", "visitor" }; end
	local out = {};
	for _, role in ipairs({ "moderator", "participant", "visitor", "none" }) do
		if broadcast[role] then out[#out + 1] = role; end
	end
	return out;
end

-- Affiliations of a frozen room (both of mod_muc's storage formats), sorted.
local function affiliations_of(frozen)
	local list, by_nick = {}, {};
	local affs = frozen._affiliations;
	if not (frozen.jid and affs) then
		affs = {};
		for k, v in pairs(frozen) do
			if type(v) == "string" and k:sub(1, 1) ~= "_" and not jid_resource(k) then
				affs[k] = v;
			end
		end
	end
	local data = frozen._affiliation_data or {};
	for user, affiliation in pairs(affs) do
		local nick = data[user] and data[user].reserved_nickname or nil;
		list[#list + 1] = { jid = user, affiliation = affiliation, nick = nick };
		if nick then by_nick[nick] = user; end
	end
	table.sort(list, function (a, b) return a.jid < b.jid; end);
	return list, by_nick;
end

local function config_of(frozen, affs, log_by_default, default_history)
	local d = frozen._data or {};
	local creator;
	for _, a in ipairs(affs) do
		if a.affiliation == "owner" then creator = creator or a.jid; end
	end
	return {
		creator = creator or (frozen._jid or frozen.jid);
		locked = false;
		name = d.name or "";
		description = d.description or "";
		lang = d.language or "";
		password = d.password or "";
		password_protected = d.password ~= nil and d.password ~= "";
		persistent = d.persistent and true or false;
		public_list = not d.hidden;
		members_only = d.members_only and true or false;
		moderated = d.moderated and true or false;
		whois_anyone = d.whois == "anyone";
		change_subject = d.changesubject and true or false;
		allow_invites = d.allow_member_invites and true or false;
		logging = (d.archiving == nil and log_by_default) or d.archiving == true;
		presence_broadcast = roles_of(d.presence_broadcast);
		history_length = d.history_length or default_history;
		subject = d.subject;
		subject_from = d.subject_from;
		subject_at = iso(d.subject_time);
	};
end

-- The stored <message/> as confab keeps it: component namespace, no 'to', no
-- whois annotation of muc_mam (confab has the sender in its own column), no
-- stanza-id of the room (confabctl import makes confab's own from seq).
local function confab_stanza(item, room_jid)
	local m = st.clone(item);
	m.attr.xmlns = "jabber:component:accept";
	m.attr.to = nil;
	m:maptags(function (tag)
		if tag.attr.xmlns == NS_MUC_USER and tag.name == "x" then return nil; end
		if tag.attr.xmlns == NS_SID and tag.name == "stanza-id" and tag.attr.by == room_jid then
			return nil;
		end
		return tag;
	end);
	return tostring(m);
end

-- Worth keeping in confab's history: what has a body or a payload other than a
-- subject change (confab stores subjects on the room, not as messages).
local function historic(item)
	if item.name ~= "message" or item.attr.type ~= "groupchat" then return false; end
	if item:get_child("body") then return true; end
	return not item:get_child("subject") and #item.tags > 0;
end

local function sender_of(item, by_nick, nick)
	local x = item:get_child("x", NS_MUC_USER);
	local real = x and x:get_child("item") and x:get_child("item").attr.jid;
	return real or by_nick[nick] or item.attr.from;
end

local function write_messages(out, archive, room_jid, by_nick, counts)
	local node = jid_split(room_jid);
	local iter, err = archive:find(node, {});
	if not iter then
		return nil, "reading the muc_log archive of " .. room_jid .. ": " .. tostring(err);
	end
	local seq = 0;
	for _, item, when in iter do
		if historic(item) then
			seq = seq + 1;
			local nick = jid_resource(item.attr.from) or "";
			local oid = item:get_child("occupant-id", "urn:xmpp:occupant-id:0");
			out:write(json.encode({
				type = "message"; room = room_jid; seq = seq; ts = iso(when);
				sender_jid = sender_of(item, by_nick, nick); nick = nick;
				occupant_id = oid and oid.attr.id or ""; body = item:get_child_text("body");
				stanza = confab_stanza(item, room_jid);
			}), "\n");
		end
	end
	counts.messages = counts.messages + seq;
	return seq;
end

local function export(host, file)
	local sm = require "core.storagemanager";
	local config = require "core.configmanager";
	sm.initialize_host(host);
	local rooms_store = sm.open(host, "persistent");
	local configs = sm.open(host, "config");
	local archive = sm.open(host, "muc_log", "archive");
	local log_by_default = config.get(host, "muc_log_by_default");
	if log_by_default == nil then log_by_default = true; end
	local log_all = config.get(host, "muc_log_all_rooms") == true;
	local default_history = config.get(host, "max_history_messages") or 20;
	local jids = {};
	for room_jid in pairs(rooms_store:get(nil) or {}) do jids[#jids + 1] = room_jid; end
	table.sort(jids);
	local out, err = io.open(file, "w");
	if not out then return nil, err; end
	out:write(json.encode({ format = "confab-export"; version = 1; type = "header";
		generator = "prosody mod_confab_export"; exported_at = iso(os.time()); level = "all";
		service = host; }), "\n");
	local counts = { rooms = 0, messages = 0, tombstones = 0 };
	local tombstones = {};
	for _, room_jid in ipairs(jids) do
		local frozen = configs:get((jid_split(room_jid)));
		local d = frozen and frozen._data or {};
		if frozen and d.destroyed then
			tombstones[#tombstones + 1] = { type = "tombstone"; jid = room_jid; reason = d.reason;
				venue = d.newjid and jid_bare(d.newjid); expires_at = iso(d.locked); };
		elseif frozen then
			local affs, by_nick = affiliations_of(frozen);
			local cfg = config_of(frozen, affs, log_by_default, default_history);
			if log_all then cfg.logging = true; end -- muc_mam archives every room then
			out:write(json.encode({ type = "room"; jid = room_jid; config = cfg;
				affiliations = #affs > 0 and affs or json.null; }), "\n");
			counts.rooms = counts.rooms + 1;
			local n, merr = write_messages(out, archive, room_jid, by_nick, counts);
			if not n then out:close(); return nil, merr; end
		end
	end
	for _, t in ipairs(tombstones) do
		out:write(json.encode(t), "\n");
		counts.tombstones = counts.tombstones + 1;
	end
	out:write(json.encode({ type = "end"; rooms = counts.rooms; messages = counts.messages;
		tombstones = counts.tombstones }), "\n");
	local ok, cerr = out:close();
	if not ok then return nil, cerr; end
	return counts;
end

function module.command(arg)
	local host, file = arg[1], arg[2];
	if not host or not file or arg[3] then
		print("usage: prosodyctl mod_confab_export <muc-host> <out-file>");
		return 64;
	end
	if not prosody.hosts[host] then
		print("mod_confab_export: " .. host .. " is not a host or component of this Prosody");
		return 78;
	end
	if require "core.configmanager".get(host, "component_module") ~= "muc" then
		print("mod_confab_export: " .. host .. " is not a muc component (Component \"" .. host
			.. "\" \"muc\")");
		return 78;
	end
	local counts, err = export(host, file);
	if not counts then
		print("mod_confab_export: " .. tostring(err));
		return 1;
	end
	print(string.format("exported %d rooms, %d messages, %d tombstones of %s to %s",
		counts.rooms, counts.messages, counts.tombstones, host, file));
	print("next: confabctl -c /etc/confab/confab.ini import " .. file);
	return 0;
end
