"""Play a COI client against a private Dovecot with the freshly built
imap_coi and lmtp_coi plugins, printing the IMAP transcript as it goes,
then deliver chat and mail over LMTP and show where each landed."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "tests", "integration"))

from harness import (DovecotServer, RawIMAP, built_plugin,  # noqa: E402
                     enable_coi, imap_command, make_message)

CONFIG = "/private/vendor/vendor.dovecot/coi/config"


def run(conn, command):
    print(f"C: {command}")
    status, text, untagged = imap_command(conn, command)
    for line in untagged:
        print(f"S: {line}")
    print(f"S: {text}")
    return status


def has_coi(line):
    return "COI is " + ("" if "COI" in line.replace("]", " ").split()
                        else "NOT ") + "announced"


def landed(server, users):
    """Print where every message of users is, with its flags."""
    print(f"   {'user':6} {'mailbox':10} {'flags':16} subject")
    for user in users:
        r = server.doveadm("-f", "tab", "fetch", "-u", user,
                           "mailbox flags hdr.subject", "all")
        for line in sorted(r.stdout.splitlines()[1:]):
            mailbox, flags, subject = line.split("\t", 2)
            flags = " ".join(f for f in flags.split() if f != "\\Recent")
            print(f"   {user:6} {mailbox:10} {flags or '-':16} {subject}")


def deliver(server, users, msg):
    replies = server.lmtp_deliver("friend@example.org", users, msg)
    for user in users:
        code, text = replies[user]
        print(f"   LMTP to {user}: {code} {text.split(' ', 2)[0]}")


def delivery(server):
    print("\n== delivery (lmtp_coi): alice uses message-filter=active, "
          "bob has COI with the\n   default filter none, carol never enabled COI")
    enable_coi(server, "bob")
    everyone = ["alice", "bob", "carol"]
    chat_id = "<3b7a1f5e-8d2c-4a5e-9f1b-2c3d4e5f6a7b@localhost>"

    print("\n-- a Delta Chat message (Chat-Version: 1.0, <uuid@localhost>)")
    deliver(server, everyone,
            make_message(chat_version="1.0", message_id=chat_id,
                         subject="Chat: hi from Delta Chat")[1])
    print("-- an ordinary mail")
    deliver(server, everyone, make_message(subject="Invoice 42")[1])
    print("-- a chat$ Message-ID from another COI client")
    deliver(server, everyone,
            make_message(message_id="<chat$b1e2.f00d@example.org>",
                         subject="COI client message")[1])
    print("-- an ordinary mail client answers the Delta Chat message\n"
          "   (no chat header at all: COI knows the thread it belongs to)")
    deliver(server, everyone,
            make_message(in_reply_to=chat_id, references=chat_id,
                         subject="Re: Chat: hi from Delta Chat")[1])
    print("-- alice blocks a sender (her client writes METADATA)")
    conn = RawIMAP(server.imap_port)
    imap_command(conn, f"LOGIN alice {server.password}")
    run(conn, 'SETMETADATA "" (/private/vendor/vendor.dovecot/coi/blocked/'
              'spammer@example.net yes)')
    conn.close()
    print("-- the blocked sender writes to everyone")
    deliver(server, everyone,
            make_message(sender="Spammer <spammer@example.net>",
                         subject="Buy now")[1])
    print("\n-- where everything landed")
    landed(server, everyone)
    print("\n   alice's chat went to COI/Chats before it was stored, so an IDLE on"
          "\n   her INBOX never woke for it. bob's chat stays in the INBOX (the safe"
          "\n   default for clients that watch one folder), with $Chat. carol's mail"
          "\n   is untouched. Only alice blocked the spammer: her copy went to"
          "\n   Blocked, never to her INBOX.")


def main():
    with DovecotServer(users=["alice", "bob", "carol"],
                       plugin_paths=[built_plugin("imap_coi"),
                                     built_plugin("lmtp_coi")],
                       imap_mail_plugins="imap_coi",
                       lmtp_mail_plugins="lmtp_coi") as server:
        print(f"== Dovecot with imap_coi and lmtp_coi on 127.0.0.1 "
              f"(IMAP {server.imap_port}, LMTP {server.lmtp_port};\n"
              f"   config: {server.conf})\n")
        conn = RawIMAP(server.imap_port)
        print("-- before login there is no COI")
        line = imap_command(conn, "CAPABILITY")[2][0]
        print(f"C: a CAPABILITY\nS: {line}\n   ({has_coi(line)})")
        print("\n-- after login there is")
        status, text, untagged = imap_command(
            conn, f"LOGIN alice {server.password}")
        # having seen CAPABILITY, the client gets the new list untagged
        reply = "\n".join(untagged + [f"b {text}"])
        print(f"C: b LOGIN alice ****\nS: {reply}\n   ({has_coi(reply)})")

        print("\n-- the client reads the COI configuration")
        run(conn, f'GETMETADATA (DEPTH 1) "" ({CONFIG})')
        print("\n-- a wrong value is refused")
        run(conn, f'SETMETADATA "" ({CONFIG}/enabled true)')
        run(conn, f'SETMETADATA "" ({CONFIG}/mailbox-root Elsewhere)')
        print("\n-- enabling COI creates and subscribes the COI folders")
        run(conn, f'SETMETADATA "" ({CONFIG}/enabled yes)')
        run(conn, f'SETMETADATA "" ({CONFIG}/message-filter active)')
        run(conn, f'GETMETADATA (DEPTH 1) "" ({CONFIG})')
        run(conn, 'LSUB "" "*"')
        print("\n-- Chats can only be deleted or moved to the Trash, "
              "which disables COI")
        run(conn, "RENAME COI/Chats Archive")
        run(conn, "RENAME COI/Chats Trash/Chats")
        run(conn, f'GETMETADATA (DEPTH 1) "" ({CONFIG})')
        print("\n-- creating Chats again enables COI again")
        run(conn, "CREATE COI/Chats")
        run(conn, f'GETMETADATA "" ({CONFIG}/enabled)')
        run(conn, "LOGOUT")
        delivery(server)
        print("\n== stopped Dovecot")


if __name__ == "__main__":
    main()
