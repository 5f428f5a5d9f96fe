-- Folders: a folder's files are the names in a range (`reports/` up to
-- `reports0`), listed in byte order as S3 lists keys. The "C" collation makes
-- every comparison and ORDER BY on file names byte order, whatever the
-- database's own collation, and rebuilds the (user_id, file_name) index in
-- that order so a folder's range is one index scan. SQLite compares text
-- bytewise already.
ALTER TABLE files ALTER COLUMN file_name TYPE TEXT COLLATE "C";
