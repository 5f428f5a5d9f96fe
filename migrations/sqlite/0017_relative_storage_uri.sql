-- storage_uri names a blob within its store, no longer where the store lives:
-- `local://sha256/ab/<sha256>` rather than the data directory's absolute
-- path, `node://sha256/ab/<sha256>` rather than the storage node's address.
UPDATE files
   SET storage_uri = 'local://sha256/' || substr(sha256, 1, 2) || '/' || sha256
 WHERE storage_uri LIKE 'local:///%';
UPDATE files
   SET storage_uri = 'node://sha256/' || substr(sha256, 1, 2) || '/' || sha256
 WHERE storage_uri LIKE '%/internal/storage/download?key=%';
