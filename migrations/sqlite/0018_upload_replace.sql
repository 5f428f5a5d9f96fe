-- A resumable upload created with `replace` takes the place of the file of
-- the same name when it completes, rather than being refused.
ALTER TABLE uploads ADD COLUMN replace_existing INTEGER NOT NULL DEFAULT 0;
