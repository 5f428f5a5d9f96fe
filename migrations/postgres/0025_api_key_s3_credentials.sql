-- An API key's S3 access key id (its secret is derived from the signing
-- secret, never stored). Keys made before have none: they do not sign S3
-- requests.
ALTER TABLE api_keys ADD COLUMN access_key_id TEXT;
CREATE UNIQUE INDEX api_keys_by_access_key_id ON api_keys (access_key_id);
