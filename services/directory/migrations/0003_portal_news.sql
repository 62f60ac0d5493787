-- directory: the news a firm publishes in its client portal (spec 02, "News (items published by the firm)").
-- An item is never deleted: withdrawing it takes it out of the portal and keeps it for the firm's staff.
CREATE TABLE news_item (
  id uuid PRIMARY KEY,
  firm_id uuid NOT NULL REFERENCES firm (id),
  title text NOT NULL,
  body text NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now(),
  published_by uuid NOT NULL REFERENCES staff (id),
  withdrawn_at timestamptz
);
-- the portal's list: newest first, cursor on (published_at, id)
CREATE INDEX news_item_firm_time ON news_item (firm_id, published_at DESC, id DESC);
