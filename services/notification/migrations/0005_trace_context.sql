-- The trace context (W3C traceparent) of what queued a mail or a webhook delivery: the event's consumer, or the
-- PingWebhook call. Each attempt is a trace of its own whose span links to it (README: Telemetry).
ALTER TABLE notification ADD COLUMN traceparent text;
ALTER TABLE webhook_delivery ADD COLUMN traceparent text;
