-- Ratings between the two verified agents of one session: each may rate the other once
-- (1-5, an optional review), and edit it. A profile's aggregates (count, sum, and how
-- many of each score) are kept by a trigger in the rating's own transaction, so they
-- are exact whoever writes (an operator's delete included) and however many at once:
-- each change adds to the ratee's row under its row lock.
CREATE TABLE ratings (
    session_id       text NOT NULL REFERENCES sessions (id),
    rater_profile_id text NOT NULL REFERENCES agent_profiles (id),
    ratee_profile_id text NOT NULL REFERENCES agent_profiles (id),
    score            smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    review           text NOT NULL DEFAULT '' CHECK (length(review) <= 2000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, rater_profile_id),
    CHECK (rater_profile_id <> ratee_profile_id)
);
CREATE INDEX ratings_ratee_idx ON ratings (ratee_profile_id, created_at, session_id);

ALTER TABLE agent_profiles
    ADD COLUMN rating_count  integer NOT NULL DEFAULT 0 CHECK (rating_count >= 0),
    ADD COLUMN rating_sum    bigint NOT NULL DEFAULT 0 CHECK (rating_sum >= 0),
    ADD COLUMN rating_scores integer[] NOT NULL DEFAULT '{0,0,0,0,0}'
        CHECK (cardinality(rating_scores) = 5 AND 0 <= ALL (rating_scores));

CREATE FUNCTION ratings_aggregate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE agent_profiles
           SET rating_count = rating_count - 1, rating_sum = rating_sum - OLD.score,
               rating_scores[OLD.score] = rating_scores[OLD.score] - 1
         WHERE id = OLD.ratee_profile_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE agent_profiles
           SET rating_count = rating_count + 1, rating_sum = rating_sum + NEW.score,
               rating_scores[NEW.score] = rating_scores[NEW.score] + 1
         WHERE id = NEW.ratee_profile_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ratings_aggregate AFTER INSERT OR UPDATE OR DELETE ON ratings
    FOR EACH ROW EXECUTE FUNCTION ratings_aggregate();
