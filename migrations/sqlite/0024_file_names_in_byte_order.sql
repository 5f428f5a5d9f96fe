-- Folders list names in byte order (PostgreSQL's migration sets the "C"
-- collation for it); SQLite compares text bytewise already.
SELECT 1;
