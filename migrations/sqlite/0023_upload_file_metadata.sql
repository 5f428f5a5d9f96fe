-- The metadata a resumable upload gives its file (`metadata` in tus'
-- Upload-Metadata, a JSON object), validated at creation and kept until the
-- last byte stores the file.
ALTER TABLE uploads ADD COLUMN file_metadata TEXT NOT NULL DEFAULT '{}';
