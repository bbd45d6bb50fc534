-- One lower-cased search column per contract: id and name together, so a
-- contract search evaluates one LIKE per row.
ALTER TABLE contracts ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE contracts SET search_text = LOWER(id) || ' ' || LOWER(name);
ALTER TABLE contracts DROP COLUMN name_lower;
