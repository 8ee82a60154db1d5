-- Observers choose a display name when they redeem an invite; presence carries it so
-- that people are shown by name rather than by participant id.
ALTER TABLE presence ADD COLUMN display_name text CHECK (length(display_name) <= 64);
