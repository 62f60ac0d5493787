-- document-intake: mail taken from a polled IMAP mailbox (INTAKE_IMAP_*). One row per message, written in the
-- transaction that stores its documents (or when it is set aside), so that a message seen again (its move to the
-- processed mailbox failed, or two replicas polled at once) is not stored twice. A message is known by its
-- mailbox's UIDVALIDITY and its UID there: together they never name another message.
CREATE TABLE imap_message (
  account text NOT NULL, -- user@host:port/mailbox
  uid_validity bigint NOT NULL,
  uid bigint NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('stored', 'no_recipient', 'too_large')),
  message_id text,
  taken_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account, uid_validity, uid)
);

-- Replicas take turns polling a mailbox: the holder renews its lease each poll; another replica takes over once
-- it has expired (the holder stopped without handing it back).
CREATE TABLE imap_poll_lease (
  account text PRIMARY KEY,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL
);
