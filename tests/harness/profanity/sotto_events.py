# Loaded into profanity by sotto::test::Profanity (tests/harness/profanity.h):
# appends what profanity does as JSON lines to $SOTTO_PROFANITY_EVENTS, one
# object per line with an "event" name and the arrival "time" (Unix seconds).
# The harness tails that file instead of scraping the screen.
#
#   connected / disconnected   account, jid (full JID)
#   message.received           from (bare JID), resource, body: a chat message
#                              as displayed (after OTR decryption)
#   message.sent               to, body: a chat message typed by the user
#   stanza.received / .sent    kind (message, presence, iq), stanza (raw XML,
#                              e.g. OTR ciphertext before decryption); message
#                              stanzas also from, to (as written, may be
#                              absent) and body (the <body> text on the wire,
#                              absent when there is none)
#   presence / offline         jid, resource, presence, status
#   chat.focus                 jid
#
# Only hooks of profanity's Python plugin API (0.13.1); it has none for OTR
# state or SMP, so the harness reads those from the screen.
import json
import os
import time
import xml.etree.ElementTree as ElementTree

_PATH = os.environ.get("SOTTO_PROFANITY_EVENTS")


def _emit(event, **fields):
    if not _PATH:
        return
    fields["event"] = event
    fields["time"] = time.time()
    line = json.dumps(fields, ensure_ascii=False) + "\n"
    # One write per event on an O_APPEND file: the reader never sees half a
    # line that is not completed by the same write.
    fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def prof_init(version, status, account_name, fulljid):
    _emit("init", version=version, account=account_name, jid=fulljid)


def prof_on_start():
    _emit("start")


def prof_on_shutdown():
    _emit("shutdown")


def prof_on_connect(account_name, fulljid):
    _emit("connected", account=account_name, jid=fulljid)


def prof_on_disconnect(account_name, fulljid):
    _emit("disconnected", account=account_name, jid=fulljid)


def prof_post_chat_message_display(barejid, resource, message):
    _emit("message.received", **{"from": barejid, "resource": resource, "body": message})


def prof_post_chat_message_send(barejid, message):
    _emit("message.sent", to=barejid, body=message)


def _message_fields(stanza):
    """from, to and the <body> text of a message stanza, as far as present."""
    try:
        root = ElementTree.fromstring(stanza)
    except ElementTree.ParseError:
        return {}
    fields = {}
    for name in ("from", "to"):
        if root.get(name) is not None:
            fields[name] = root.get(name)
    for child in root:
        # "body" or "{jabber:client}body"
        if child.tag.rsplit("}", 1)[-1] == "body":
            fields["body"] = child.text or ""
            break
    return fields


def prof_on_message_stanza_receive(stanza):
    _emit("stanza.received", kind="message", stanza=stanza, **_message_fields(stanza))
    return True


def prof_on_message_stanza_send(stanza):
    _emit("stanza.sent", kind="message", stanza=stanza, **_message_fields(stanza))
    return None


def prof_on_presence_stanza_receive(stanza):
    _emit("stanza.received", kind="presence", stanza=stanza)
    return True


def prof_on_presence_stanza_send(stanza):
    _emit("stanza.sent", kind="presence", stanza=stanza)
    return None


def prof_on_iq_stanza_receive(stanza):
    _emit("stanza.received", kind="iq", stanza=stanza)
    return True


def prof_on_contact_presence(barejid, resource, presence, status, priority):
    _emit("presence", jid=barejid, resource=resource, presence=presence, status=status)


def prof_on_contact_offline(barejid, resource, status):
    _emit("offline", jid=barejid, resource=resource, status=status)


def prof_on_chat_win_focus(barejid):
    _emit("chat.focus", jid=barejid)
