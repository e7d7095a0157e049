"""Play a COI client against a private Dovecot with the freshly built
imap_coi plugin, printing the IMAP transcript as it goes."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "tests", "integration"))

from harness import (DovecotServer, RawIMAP, built_plugin,  # noqa: E402
                     imap_command)

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


def main():
    with DovecotServer(users=["alice"],
                       plugin_paths=[built_plugin("imap_coi")],
                       imap_mail_plugins="imap_coi") as server:
        print(f"== Dovecot with imap_coi on 127.0.0.1:{server.imap_port} "
              f"(config: {server.conf})\n")
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
        print("\n== stopped Dovecot; delivery (lmtp_coi) comes with the "
              "next issue")


if __name__ == "__main__":
    main()
