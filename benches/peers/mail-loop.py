#!/usr/bin/env python3
"""A minimal mail loop in the style of Checkmk's check_mail_loop: the peer of smtp-probe's round trip in
BENCHMARKS.md. Standard library only: smtplib (STARTTLS, AUTH) and imaplib (IMAPS), the same steps as the probe
(log in to the mailbox, submit a tokenised message, search every POLL seconds, fetch the headers, delete it with
UID EXPUNGE, log out). Prints one line: "<end-to-end ms> <searches>", or exits 2 when not delivered.

usage: mail-loop.py SMTP_HOST SMTP_PORT SMTP_USER SMTP_PASS FROM TO IMAP_HOST IMAP_PORT IMAP_USER IMAP_PASS CA POLL_S
        DEADLINE_S   (certificates are verified against the hosts given: use addresses the certificates name)
"""
import imaplib
import smtplib
import ssl
import sys
import time
import uuid

(smtp_host, smtp_port, smtp_user, smtp_pass, sender, rcpt, imap_host, imap_port, imap_user, imap_pass, ca, poll,
 deadline) = sys.argv[1:14]
poll, deadline = float(poll), float(deadline)
context = ssl.create_default_context(cafile=ca)
start = time.monotonic()

imap = imaplib.IMAP4_SSL(imap_host, int(imap_port), ssl_context=context, timeout=deadline)
imap.login(imap_user, imap_pass)
imap.select("INBOX")

token = "mail-loop-" + uuid.uuid4().hex
message = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: mail loop {token}\r\nX-Mail-Loop-Token: {token}\r\n"
           f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n\r\nloop\r\n")
smtp = smtplib.SMTP(smtp_host, int(smtp_port), timeout=deadline)
smtp.starttls(context=context)
smtp.login(smtp_user, smtp_pass)
smtp.sendmail(sender, [rcpt], message)
accepted = time.monotonic()
smtp.quit()

searches = 0
while time.monotonic() - start < deadline:
    imap.noop()
    searches += 1
    _, data = imap.uid("SEARCH", None, "HEADER", "X-Mail-Loop-Token", token)
    uids = data[0].split()
    if uids:
        seen = time.monotonic()
        imap.uid("FETCH", b",".join(uids), "(BODY.PEEK[HEADER])")
        imap.uid("STORE", b",".join(uids), "+FLAGS.SILENT", "(\\Deleted)")
        imap.uid("EXPUNGE", b",".join(uids))
        imap.logout()
        print(f"{(seen - accepted) * 1000:.1f} {searches}")
        sys.exit(0)
    time.sleep(poll)
imap.logout()
sys.exit(2)
