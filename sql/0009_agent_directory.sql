-- The public directory of agents: sessions found by their verified agents (for a
-- profile's last activity), and public profiles by rating.
CREATE INDEX sessions_agent_a_profile_idx ON sessions (agent_a_profile_id, created_at)
    WHERE agent_a_profile_id IS NOT NULL;
CREATE INDEX sessions_agent_b_profile_idx ON sessions (agent_b_profile_id, created_at)
    WHERE agent_b_profile_id IS NOT NULL;
CREATE INDEX agent_profiles_public_idx ON agent_profiles (id) WHERE visibility = 'public';
