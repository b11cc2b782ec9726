"""Table definitions used by queries. Migrations under ``migrations/versions`` create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bridge.store.records import DeliveryStatus, LinkStatus

metadata = MetaData()

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("workspace", String(64), nullable=False, default=""),
    Column("chat_user_id", String(128), nullable=False),
    Column("lms_user_id", Integer, nullable=False, index=True),
    Column("lms_username", String(255), nullable=False, default=""),
    Column("lms_fullname", String(255), nullable=False, default=""),
    Column("token_enc", Text, nullable=False),
    Column("status", String(16), nullable=False, default=LinkStatus.ACTIVE.value),
    Column("status_reason", Text, nullable=False, default=""),
    Column("room", String(255)),
    Column("address", JSON),
    Column("current_conversation_id", Integer),
    Column("current_peer_id", Integer),
    Column("created_at", Integer, nullable=False),
    Column("updated_at", Integer, nullable=False),
    Column("origin", Text, nullable=False, default=""),
    UniqueConstraint("platform", "workspace", "chat_user_id", name="uq_links_identity"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("workspace", String(64), primary_key=True),
    Column("chat_user_id", String(128), primary_key=True),
    Column("display_name", String(255), nullable=False, default=""),
    Column("room", String(255)),
    Column("address", JSON),
    Column("last_seen", Integer, nullable=False),
)

link_codes = Table(
    "link_codes",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("platform", String(16)),
    Column("workspace", String(64)),
    Column("chat_user_id", String(128)),
    Column("token_enc", Text),
    Column("lms_user_id", Integer),
    Column("lms_username", String(255)),
    Column("lms_fullname", String(255)),
    Column("failures", Integer, nullable=False, default=0),
    Column("expires_at", Integer, nullable=False),
    Column("used_at", Integer),
    Column("account", JSON),
    Column("origin", Text),
)

cursors = Table(
    "cursors",
    metadata,
    Column("lms_user_id", Integer, primary_key=True),
    Column("scope", String(64), primary_key=True),
    Column("watermark", Integer, nullable=False),
    Column("seen_ids", JSON, nullable=False),
    Column("updated_at", Integer, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("lms_user_id", Integer, primary_key=True),
    Column("conversation_id", Integer, primary_key=True),
    Column("type", Integer, nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("peer_id", Integer),
    Column("last_time", Integer, nullable=False, default=0),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(64), nullable=False),
    Column("link_id", Integer, nullable=False),
    Column("platform", String(16), nullable=False),
    Column("lane", String(255), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(8), nullable=False, default=DeliveryStatus.PENDING.value),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=False, default=""),
    Column("refs", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("held_until", Float),  # quiet hours: not sent before this time, then as a digest
    Column("failing_since", Float),  # first transient failure of a run of them (time budget)
    Column("sending_at", Float),  # status "sending": when the send began (to look for it after a crash)
    UniqueConstraint("item_key", "link_id", name="uq_outbox_item_link"),
    Index("ix_outbox_status_lane", "status", "lane", "id"),
)

message_map = Table(
    "message_map",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(64), nullable=False, index=True),
    Column("link_id", Integer, nullable=False),
    Column("lms_user_id", Integer, nullable=False),
    Column("conversation_id", Integer),
    Column("platform", String(16), nullable=False),
    Column("workspace", String(64), nullable=False),
    Column("room", String(255), nullable=False),
    Column("remote_id", String(255), nullable=False),
    Column("thread", String(255)),
    Column("part", Integer, nullable=False, default=0),
    Column("created_at", Float, index=True),  # pruned after store.message_map_retention_days
    UniqueConstraint("platform", "workspace", "room", "remote_id", name="uq_message_map_remote"),
)

conversation_threads = Table(
    "conversation_threads",
    metadata,
    Column("link_id", Integer, primary_key=True),
    Column("conversation_id", Integer, primary_key=True),
    Column("thread", String(255), nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("platform", String(16), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("processed_at", Integer, nullable=False, index=True),
    # "received": journalled, handling not finished (resumed at start); "done".
    Column("status", String(8), nullable=False, default="done", index=True),
    Column("event", JSON),  # what the person did, enough to handle it again
    Column("received_at", Float),
    Column("replica", String(255)),  # the replica handling it (another resumes it once that one is gone)
)

preferences = Table(
    "preferences",
    metadata,
    Column("lms_user_id", Integer, primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", Integer, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("lms_user_id", Integer, primary_key=True),
    Column("item_key", String(64), primary_key=True),
    Column("short_id", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", Text, nullable=False, default=""),
    Column("url", Text),
    Column("html", Text, nullable=False, default=""),
    Column("created", Integer, nullable=False),
    Column("lms_id", Integer),
    Column("data", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    Column("outcome", Text, nullable=False, default=""),
    Column("handled_at", Integer),
    UniqueConstraint("lms_user_id", "short_id", name="uq_items_short"),
)

# What the running bridge reports about itself (heartbeat, LMS state, adapters, push), so
# `pluto-bridge status` can show it from another process.
runtime = Table(
    "runtime",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One push "device" per link, registered in the LMS with the person's own token
# (core_user_add_user_device); the LMS's AirNotifier output names it by push_id.
push_devices = Table(
    "push_devices",
    metadata,
    Column("link_id", Integer, primary_key=True),
    Column("lms_user_id", Integer, nullable=False, index=True),
    Column("push_id", String(64), nullable=False, unique=True),
    Column("uuid", String(64), nullable=False),
    Column("appid", String(255), nullable=False),
    Column("added_at", Integer),  # the LMS accepted core_user_add_user_device
    Column("site_registered_at", Integer),  # the LMS registered the push id with the receiver
    Column("created_at", Integer, nullable=False),
)

# Send Message API (bridge.api): keys (hashed), jobs and each job's recipients.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("prefix", String(16), nullable=False),  # shown by `apikey list` to tell keys apart
    Column("sender_user_id", Integer, nullable=False),
    Column("sender_username", String(255), nullable=False),
    Column("sender_fullname", String(255), nullable=False, default=""),
    Column("scopes", JSON, nullable=False),
    Column("rate_per_minute", Integer, nullable=False),
    Column("created_at", Integer, nullable=False),
    Column("last_used_at", Integer),
    Column("revoked_at", Integer),
)

api_jobs = Table(
    "api_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # accepted | done
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
    UniqueConstraint("key_id", "idempotency_key", name="uq_api_jobs_idempotency"),
)

api_recipients = Table(
    "api_recipients",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("spec", JSON, nullable=False),  # {"id": 5} | {"username": "x"} | {"email": "y"}
    Column("lms_user_id", Integer),
    Column("fullname", String(255), nullable=False, default=""),
    # chat: "" (to do) | held | queued | via_pluto | not_linked | muted | unknown
    Column("chat", String(16), nullable=False, default=""),
    Column("chat_reason", Text, nullable=False, default=""),
    Column("chat_after", Float),  # quiet hours: queued for chat at this time, not before
    # pluto: "" (to do) | sending | delivered | refused | unknown
    Column("pluto", String(16), nullable=False, default=""),
    Column("pluto_reason", Text, nullable=False, default=""),
)

# Group rooms (bridge.store.rooms): a shared chat room linked to an LMS group conversation.
# A room delivery sits in ``outbox`` with ``link_id`` = -(room link id) (records.room_target).
room_links = Table(
    "room_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("workspace", String(64), nullable=False, default=""),
    Column("room_id", String(255), nullable=False),
    Column("service_url", Text, nullable=False, default=""),
    Column("room_name", String(255), nullable=False, default=""),
    Column("conversation_id", Integer, index=True),
    Column("conversation_name", String(255), nullable=False, default=""),
    Column("linker_lms_user_id", Integer, nullable=False),
    Column("linker_chat_user_id", String(128), nullable=False),
    Column("reader_lms_user_id", Integer),  # whose token reads the group (the linker's, else a member's)
    Column("status", String(16), nullable=False),  # choosing | confirming | active | paused
    Column("reason", Text, nullable=False, default=""),
    Column("paused_at", Float),
    Column("created_at", Float, nullable=False),
    Column("watermark", Integer, nullable=False, default=0),  # the room's own intake cursor
    Column("seen_ids", JSON, nullable=False),
    UniqueConstraint("platform", "workspace", "room_id", name="uq_room_links_room"),
)

# LMS messages the bridge itself posted from a room: never posted back into that room.
room_echoes = Table(
    "room_echoes",
    metadata,
    Column("lms_message_id", Integer, primary_key=True),
    Column("room_link_id", Integer, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)

# Who the bridge knows to be in a room (the platform's member list, joins, leaves, posts).
room_members = Table(
    "room_members",
    metadata,
    Column("room_link_id", Integer, primary_key=True),
    Column("chat_user_id", String(128), primary_key=True),
    Column("present", Integer, nullable=False),
    Column("display_name", String(255), nullable=False, default=""),
    Column("seen_at", Float, nullable=False),
)

# Group conversations a person muted in Pluto, as their own listing last showed it: a linked
# group's one read (bridge.rooms.intake) sends no private copy to them, whichever replica or
# process read their listing.
group_mutes = Table(
    "group_mutes",
    metadata,
    Column("lms_user_id", Integer, primary_key=True),
    Column("conversation_id", Integer, primary_key=True),
)

# When a person was last told something about rooms ("not relayed: link first"): once a day.
room_told = Table(
    "room_told",
    metadata,
    Column("who", String(255), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("told_at", Float, nullable=False),
)

# Named leases shared by replicas (bridge.leases): one holder at a time until expires_at;
# token grows by one at every change of holder (the fencing token writes are checked against).
leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The replicas alive (a heartbeat within the lease time): intake splits the people over them.
replicas = Table(
    "replicas",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False, index=True),
)
