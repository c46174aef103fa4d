-- sql/abtest.sql of 0.9.0, the schema before coverage, the schedule and
-- abtest_settings: t/028-target-fleet.t upgrades a store made with it.

-- ngx_http_abtest_module: the fleet's store (abtest_store).
--
-- nginx makes these when they are missing (the same text, built into the
-- module from this file); a DBA may make them beforehand, and grant the
-- servers' role SELECT, INSERT, UPDATE on the table and USAGE on the
-- sequence.
--
-- One row per experiment generation: an experiment's name together with
-- its set of groups (their names in byte order, joined by ","), so that
-- servers of a rolling deploy that changes the groups each keep their
-- own.  Every insert and update of a row (a server's, or a DBA's by hand)
-- takes a new "version" from one sequence and is announced on the channel
-- "abtest" with it, by the trigger below: a server applies a row whose
-- version is above the one it applied last.

CREATE SEQUENCE IF NOT EXISTS abtest_version;

CREATE TABLE IF NOT EXISTS abtest_experiments (
    name            text NOT NULL,
    groups          text NOT NULL,
    weights         jsonb NOT NULL,     -- {"A": 50, "B": 50}
    state           text NOT NULL
                    CHECK (state IN ('active', 'inactive', 'rollout')),
    rollout_group   text,
    start_ms        bigint,             -- ms since the epoch, or NULL
    end_ms          bigint,
    stats_start_ms  bigint,             -- when the results started afresh
    history         jsonb NOT NULL DEFAULT '[]',  -- earlier weights
    version         bigint NOT NULL DEFAULT 0,  -- set by the trigger
    updated_by      text,               -- the node that wrote it
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, groups)
);

CREATE INDEX IF NOT EXISTS abtest_experiments_by_version
    ON abtest_experiments (version);

CREATE OR REPLACE FUNCTION abtest_experiments_version()
    RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := nextval('abtest_version');
    NEW.updated_at := now();
    PERFORM pg_notify('abtest', NEW.version::text);
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER abtest_experiments_version
    BEFORE INSERT OR UPDATE ON abtest_experiments
    FOR EACH ROW EXECUTE FUNCTION abtest_experiments_version();
