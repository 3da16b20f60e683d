"""A real SMTP server for tests: aiosmtpd accepting every message on 127.0.0.1 and recording it.

Each accepted message is written, as received (headers and body, CRLF line ends), to
``<maildir>/<unix-ms>-<n>.eml`` through a temporary name and a rename, so a reader never sees
half a message. The envelope recipients go first as ``X-Envelope-To:`` lines. Tests read the
directory back (the marketing subgraph's unsubscribe flow POSTs the URL found in a header).

Usage: smtp_sink.py HOST PORT MAILDIR
"""

import asyncio
import itertools
import os
import sys
import time

from aiosmtpd.controller import Controller


class RecordingHandler:
    def __init__(self, maildir):
        self.maildir = maildir
        self.counter = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        name = f"{int(time.time() * 1000)}-{os.getpid()}-{next(self.counter)}.eml"
        tmp = os.path.join(self.maildir, "." + name + ".tmp")
        with open(tmp, "wb") as out:
            for rcpt in envelope.rcpt_tos:
                out.write(f"X-Envelope-To: {rcpt}\r\n".encode())
            out.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            content = envelope.original_content or envelope.content
            if isinstance(content, str):
                content = content.encode()
            out.write(content)
        os.rename(tmp, os.path.join(self.maildir, name))
        return "250 Message accepted for delivery"


def main():
    host, port, maildir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(maildir, exist_ok=True)
    controller = Controller(RecordingHandler(maildir), hostname=host, port=port)
    controller.start()
    print(f"smtp sink on {host}:{port} writing to {maildir}", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
