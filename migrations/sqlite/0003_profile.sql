-- The structured dataset profile (JSON) beside seed 2's markdown `summary`;
-- empty for files that are not datasets.
ALTER TABLE files ADD COLUMN profile TEXT NOT NULL DEFAULT '';
