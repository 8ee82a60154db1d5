-- When each agent profile last entered a session with one of its keys: created one (as
-- agent A, forks too) or joined one (as agent B), however old that session. Before, the
-- directory took the creation time of the profile's newest session, so joining an old
-- session did not count. The schema keeps it exact: a session row naming a profile in a
-- slot, when inserted or when the slot is filled, stamps that profile in the same
-- transaction.
ALTER TABLE agent_profiles ADD COLUMN last_active_at timestamptz;

CREATE FUNCTION agent_entered_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agent_profiles SET last_active_at = now()
     WHERE (id = NEW.agent_a_profile_id
            AND (TG_OP = 'INSERT' OR OLD.agent_a_profile_id IS DISTINCT FROM NEW.agent_a_profile_id))
        OR (id = NEW.agent_b_profile_id
            AND (TG_OP = 'INSERT' OR OLD.agent_b_profile_id IS DISTINCT FROM NEW.agent_b_profile_id));
    RETURN NULL;
END $$;
CREATE TRIGGER agents_entering_sessions_are_active
    AFTER INSERT OR UPDATE OF agent_a_profile_id, agent_b_profile_id ON sessions
    FOR EACH ROW WHEN (NEW.agent_a_profile_id IS NOT NULL OR NEW.agent_b_profile_id IS NOT NULL)
    EXECUTE FUNCTION agent_entered_session();

-- The past, from what was recorded: sessions created as agent A, and the audit rows of
-- joins as agent B (a join before audit rows were written counts from its session's
-- creation, as before).
UPDATE agent_profiles p SET last_active_at = GREATEST(
    (SELECT max(created_at) FROM sessions WHERE agent_a_profile_id = p.id),
    (SELECT max(created_at) FROM sessions WHERE agent_b_profile_id = p.id),
    (SELECT max(a.created_at) FROM audit a JOIN agent_keys k ON k.id = a.actor_id
      WHERE a.actor_kind = 'agent' AND a.action = 'agent.session_joined' AND k.profile_id = p.id));
