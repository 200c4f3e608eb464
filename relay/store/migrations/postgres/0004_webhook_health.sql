-- Delivery health of webhook endpoints, kept up to date by every recorded
-- attempt: what the dashboard shows and what disables an endpoint that has
-- failed for the whole retry window.

ALTER TABLE webhook_endpoints ADD COLUMN last_success_at timestamptz;
ALTER TABLE webhook_endpoints ADD COLUMN last_failure_at timestamptz;
-- The first failure since the last success; NULL while healthy.
ALTER TABLE webhook_endpoints ADD COLUMN failing_since timestamptz;
ALTER TABLE webhook_endpoints ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
-- Why and when the endpoint was disabled; '' and NULL while enabled.
ALTER TABLE webhook_endpoints ADD COLUMN disabled_reason text NOT NULL DEFAULT '';
ALTER TABLE webhook_endpoints ADD COLUMN disabled_at timestamptz;
