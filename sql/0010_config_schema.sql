-- An agent profile's optional configuration schema (JSON Schema, draft 2020-12): when set,
-- the current configuration revision and every later one satisfy it (checked by the hub,
-- under the profile's row lock). NULL: any JSON object, as before.
ALTER TABLE agent_profiles ADD COLUMN config_schema jsonb
    CHECK (config_schema IS NULL OR jsonb_typeof(config_schema) = 'object');
