-- ngx_http_abtest_module: the fleet's events in PostgreSQL, and the
-- per-device results computed from them as they arrive.
--
-- Load it once into the store's database (psql -f sql/abtest-events.sql);
-- loading it again changes nothing (IF NOT EXISTS, CREATE OR REPLACE).
-- The shipper (rsyslog's ompgsql, conf/rsyslog-abtest.conf) inserts
-- into abtest_event_lines, and its trigger writes the other tables as the
-- shipper's role:
--
--   GRANT INSERT ON abtest_event_lines, abtest_events, abtest_rejected
--       TO rsyslog;
--   GRANT SELECT, INSERT, UPDATE ON abtest_nodes, abtest_devices,
--       abtest_group_devices, abtest_group_events, abtest_multiple
--       TO rsyslog;
--
-- (not SECURITY DEFINER: it costs a tenth of the time per line, and a
-- role that may insert any line may make any figure anyway).
--
-- What arrives is each server's events log, a JSON line per event, at
-- least once: a shipper restarted without its position, or a file read
-- twice, sends lines again.  An event is (node, id); it is stored once
-- (ON CONFLICT DO NOTHING), and only an event stored for the first time
-- moves the summaries, so re-delivery changes no figure.  A line that is
-- no event (cut short by a full disk, not JSON, a field missing) is kept
-- in abtest_rejected with the reason, never raised as an error: an error
-- would fail the shipper's transaction, and ompgsql then retries the
-- statement alone, outside it (see README).
--
-- The results are per device, as experimenters read them: for each
-- experiment generation (its name and groups), statistics epoch (the
-- store's stats_start_ms when the server counted the event) and group,
-- the devices exposed (an exposure event), the devices converted (a
-- goal event at or after the device's first exposure, by the servers'
-- "received" times), and the events per name.  Only what the server
-- counted is used: the line's "counted" object, never the client's
-- exp_group.  A device seen in more than one group of one epoch is
-- counted in none, and reported as multiple.
--
-- Everything is incremental: a device's row keeps its group (or that it
-- was seen in several), its first exposure and its last goal; both move
-- one way only, whatever order the events arrive in, so a device's
-- status (exposed, converted, multiple) only ever flips once each, and a
-- flip adds to or takes from a small summary row.  A read sums a few
-- rows per group, never the events.
--
-- The summary rows are kept per node (the server whose event moved
-- them): each server's shipper writes its own rows, so that shippers of
-- different servers never wait for each other's row locks.  Locks are
-- taken in one order (the event, its node, then per experiment in
-- jsonb's key order: the device, the event count, the device count, the
-- multiple count), so that concurrent shippers cannot deadlock.

-- Every event once, as its server wrote it.
CREATE TABLE IF NOT EXISTS abtest_events (
    node        text NOT NULL,          -- abtest_store's node=, or host
    id          bigint NOT NULL,        -- the server's event id
    received    timestamptz NOT NULL,   -- the server's time of it
    device      text NOT NULL,
    event       text NOT NULL,          -- its name
    line        jsonb NOT NULL,         -- the whole event
    stored_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (node, id)
);

-- Lines that are no event, with why; nothing else reads them.  To take
-- a fixed line again: INSERT INTO abtest_event_lines SELECT ...
CREATE TABLE IF NOT EXISTS abtest_rejected (
    line        text NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Per node: the newest event that reached the store (by the server's
-- received time) and when it arrived; the lag of the fleet's results and
-- which servers send events.
CREATE TABLE IF NOT EXISTS abtest_nodes (
    node             text PRIMARY KEY,
    newest_received  timestamptz NOT NULL,
    newest_stored_at timestamptz NOT NULL,  -- when that one arrived
    last_stored_at   timestamptz NOT NULL   -- a new event's arrival, to 1 s
);

-- Per experiment generation, epoch and device: its group (the first the
-- servers counted it in), whether it was seen in another one too, its
-- first exposure and its last goal (ms since the epoch, received).
CREATE TABLE IF NOT EXISTS abtest_devices (
    experiment        text NOT NULL,
    groups            text NOT NULL,    -- the generation: "A,B"
    start_ms          bigint NOT NULL,  -- the statistics epoch
    device            text NOT NULL,
    group_name        text NOT NULL,
    multiple          boolean NOT NULL,
    first_exposure_ms bigint,
    last_goal_ms      bigint,
    PRIMARY KEY (experiment, groups, start_ms, device)
);

-- Exposed and converted devices per group, in parts per node (sum them).
CREATE TABLE IF NOT EXISTS abtest_group_devices (
    experiment  text NOT NULL,
    groups      text NOT NULL,
    start_ms    bigint NOT NULL,
    group_name  text NOT NULL,
    node        text NOT NULL,
    exposed     bigint NOT NULL,
    converted   bigint NOT NULL,
    PRIMARY KEY (experiment, groups, start_ms, group_name, node)
);

-- Events per name per group, in parts per node.  Every counted event,
-- those of multiple devices too (they are events, as the servers' own
-- statistics count them).
CREATE TABLE IF NOT EXISTS abtest_group_events (
    experiment  text NOT NULL,
    groups      text NOT NULL,
    start_ms    bigint NOT NULL,
    group_name  text NOT NULL,
    event       text NOT NULL,
    node        text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (experiment, groups, start_ms, group_name, event, node)
);

-- Devices seen in more than one group of an epoch, in parts per node.
CREATE TABLE IF NOT EXISTS abtest_multiple (
    experiment  text NOT NULL,
    groups      text NOT NULL,
    start_ms    bigint NOT NULL,
    node        text NOT NULL,
    devices     bigint NOT NULL,
    PRIMARY KEY (experiment, groups, start_ms, node)
);

-- The shipper's entry point: a row per line, never kept (the trigger
-- takes it and returns NULL).  COPY into it works too (a batch of a
-- rotated file), with the same outcome per line.
CREATE TABLE IF NOT EXISTS abtest_event_lines (
    line        text
);


-- Why the parsed line is no event, or NULL when it is one.  The fields
-- the store relies on are checked here, before anything is written, so
-- that an event is taken whole or kept aside whole.
CREATE OR REPLACE FUNCTION abtest_event_problem(j jsonb)
    RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    dev  jsonb;
    exp  text;
    c    jsonb;
BEGIN
    IF jsonb_typeof(j) IS DISTINCT FROM 'object' THEN
        RETURN 'not a JSON object';
    END IF;
    -- ids stay below 2^53 (exact in JavaScript): at most 16 digits
    IF jsonb_typeof(j->'id') IS DISTINCT FROM 'number'
       OR (j->>'id') !~ '^[0-9]{1,16}$' THEN
        RETURN 'id: missing, or not a whole number';
    END IF;
    IF jsonb_typeof(j->'node') IS DISTINCT FROM 'string'
       OR length(j->>'node') NOT BETWEEN 1 AND 255 THEN
        RETURN 'node: missing, or not a name of 1 to 255 characters';
    END IF;
    dev := coalesce(j->'deviceId', j->'device_id');
    IF jsonb_typeof(dev) IS DISTINCT FROM 'string'
       OR (dev #>> '{}') !~ '^[A-Za-z0-9_-]{1,64}$' THEN
        RETURN 'deviceId: missing, or not a device id';
    END IF;
    IF jsonb_typeof(j->'event') IS DISTINCT FROM 'string'
       OR length(j->>'event') NOT BETWEEN 1 AND 64 THEN
        RETURN 'event: missing, or not a name of 1 to 64 characters';
    END IF;
    -- exactly the servers' format: a cast alone would take 'now'
    IF jsonb_typeof(j->'received') IS DISTINCT FROM 'string'
       OR (j->>'received')
          !~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' THEN
        RETURN 'received: missing, or not an ISO 8601 UTC time with ms';
    END IF;
    IF j->'counted' IS NULL OR jsonb_typeof(j->'counted') = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(j->'counted') <> 'object' THEN
        RETURN 'counted: not an object';
    END IF;
    FOR exp, c IN SELECT key, value FROM jsonb_each(j->'counted') LOOP
        IF jsonb_typeof(c) IS DISTINCT FROM 'object'
           OR jsonb_typeof(c->'group') IS DISTINCT FROM 'string'
           OR jsonb_typeof(c->'groups') IS DISTINCT FROM 'string'
           OR jsonb_typeof(c->'start') IS DISTINCT FROM 'number'
           OR (c->>'start') !~ '^[0-9]{1,16}$'
           OR (c->>'role') IS NULL
           OR (c->>'role') NOT IN ('exposure', 'goal', 'event') THEN
            RETURN format('counted.%s: not {"group": "...", "groups": '
                          '"...", "start": <ms>, "role": "exposure" | '
                          '"goal" | "event"}', exp);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;


-- One line: 'stored' (a new event, the summaries moved), 'duplicate' (an
-- event stored before: nothing changes) or 'rejected' (kept aside in
-- abtest_rejected).  It never raises for a bad line; an error of the
-- store itself while storing a good one (a disk full, a privilege
-- revoked) keeps the line aside too, with the error, so that it can be
-- taken again once fixed.
CREATE OR REPLACE FUNCTION abtest_ingest(line text)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    j        jsonb;
    problem  text;
    v_node   text;
    v_dev    text;
    v_ms     bigint;
    exp      text;
    c        jsonb;
    grp      text;
    gens     text;
    st       bigint;
    role     text;
    d        abtest_devices%ROWTYPE;
    new_mult boolean;
    new_exp  bigint;
    new_goal bigint;
    old_in   boolean;
    old_conv boolean;
    now_in   boolean;
    now_conv boolean;
BEGIN
    -- one block (a subtransaction) per line: the cast, the checks and
    -- every write are undone together when anything fails.  A deadlock
    -- cannot happen between shippers that commit each line (the locks
    -- are taken in one order), but can with a batch holding the locks
    -- of many lines (COPY, a batching shipper): the line is tried again
    -- (its own locks are given back with the block), then kept aside
    FOR attempt IN 1 .. 3 LOOP
        BEGIN
            j := line::jsonb;

            problem := abtest_event_problem(j);
            IF problem IS NOT NULL THEN
                INSERT INTO abtest_rejected (line, reason)
                    VALUES (line, problem);
                RETURN 'rejected';
            END IF;

            v_node := j->>'node';
            v_dev := coalesce(j->>'deviceId', j->>'device_id');

            INSERT INTO abtest_events (node, id, received, device, event, line)
                VALUES (v_node, (j->>'id')::bigint,
                        (j->>'received')::timestamptz, v_dev, j->>'event', j)
                ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RETURN 'duplicate';
            END IF;

            v_ms := (extract(epoch FROM (j->>'received')::timestamptz)
                     * 1000)::bigint;

            -- the node's row is rewritten when its newest event moves, or a
            -- second after the last time: not by every event
            INSERT INTO abtest_nodes AS n VALUES (v_node,
                    (j->>'received')::timestamptz, clock_timestamp(),
                    clock_timestamp())
                ON CONFLICT (node) DO UPDATE SET
                    last_stored_at = EXCLUDED.last_stored_at,
                    newest_stored_at = CASE
                        WHEN EXCLUDED.newest_received > n.newest_received
                        THEN EXCLUDED.newest_stored_at
                        ELSE n.newest_stored_at END,
                    newest_received = greatest(n.newest_received,
                                               EXCLUDED.newest_received)
                WHERE EXCLUDED.newest_received > n.newest_received
                   OR n.last_stored_at
                      < EXCLUDED.last_stored_at - interval '1 second';

            -- jsonb_each gives the keys in one order for every line: the
            -- order the locks are taken in
            FOR exp, c IN SELECT key, value
                          FROM jsonb_each(coalesce(j->'counted', '{}'))
            LOOP
                grp := c->>'group';
                gens := c->>'groups';
                st := (c->>'start')::bigint;
                role := c->>'role';

                SELECT * INTO d FROM abtest_devices
                    WHERE experiment = exp AND groups = gens AND start_ms = st
                          AND device = v_dev
                    FOR UPDATE;

                IF NOT FOUND THEN
                    INSERT INTO abtest_devices VALUES (exp, gens, st, v_dev,
                            grp, false,
                            CASE WHEN role = 'exposure' THEN v_ms END,
                            CASE WHEN role = 'goal' THEN v_ms END)
                        ON CONFLICT DO NOTHING;
                    IF FOUND THEN
                        -- a new device: exposed by an exposure, never
                        -- converted by its first event alone
                        d.group_name := grp;
                        d.multiple := false;
                        d.first_exposure_ms := NULL;
                        d.last_goal_ms := NULL;
                        new_mult := false;
                        new_exp := CASE WHEN role = 'exposure' THEN v_ms END;
                        new_goal := CASE WHEN role = 'goal' THEN v_ms END;
                    ELSE
                        -- another shipper made it meanwhile: wait for it
                        SELECT * INTO d FROM abtest_devices
                            WHERE experiment = exp AND groups = gens
                                  AND start_ms = st AND device = v_dev
                            FOR UPDATE;
                    END IF;
                END IF;

                IF d.experiment IS NOT NULL THEN
                    -- an existing device: both times move one way only
                    new_mult := d.multiple OR d.group_name <> grp;
                    new_exp := d.first_exposure_ms;
                    new_goal := d.last_goal_ms;
                    IF role = 'exposure' THEN
                        new_exp := least(new_exp, v_ms);
                    ELSIF role = 'goal' THEN
                        new_goal := greatest(new_goal, v_ms);
                    END IF;
                    IF new_mult IS DISTINCT FROM d.multiple
                       OR new_exp IS DISTINCT FROM d.first_exposure_ms
                       OR new_goal IS DISTINCT FROM d.last_goal_ms THEN
                        UPDATE abtest_devices SET multiple = new_mult,
                                first_exposure_ms = new_exp,
                                last_goal_ms = new_goal
                            WHERE experiment = exp AND groups = gens
                                  AND start_ms = st AND device = v_dev;
                    END IF;
                END IF;

                INSERT INTO abtest_group_events AS e
                        VALUES (exp, gens, st, grp, j->>'event', v_node, 1)
                    ON CONFLICT (experiment, groups, start_ms, group_name,
                                 event, node)
                    DO UPDATE SET n = e.n + 1;

                -- the device's part in its group's counts, before and after
                old_in := NOT d.multiple AND d.first_exposure_ms IS NOT NULL;
                old_conv := old_in
                            AND coalesce(d.last_goal_ms >= d.first_exposure_ms,
                                         false);
                now_in := NOT new_mult AND new_exp IS NOT NULL;
                now_conv := now_in AND coalesce(new_goal >= new_exp, false);

                IF old_in <> now_in OR old_conv <> now_conv THEN
                    INSERT INTO abtest_group_devices AS g
                            VALUES (exp, gens, st, d.group_name, v_node,
                                    now_in::int - old_in::int,
                                    now_conv::int - old_conv::int)
                        ON CONFLICT (experiment, groups, start_ms, group_name,
                                     node)
                        DO UPDATE SET exposed = g.exposed + EXCLUDED.exposed,
                                      converted = g.converted
                                                  + EXCLUDED.converted;
                END IF;

                IF new_mult AND NOT d.multiple THEN
                    INSERT INTO abtest_multiple AS m
                            VALUES (exp, gens, st, v_node, 1)
                        ON CONFLICT (experiment, groups, start_ms, node)
                        DO UPDATE SET devices = m.devices + 1;
                END IF;

                d := NULL;
            END LOOP;

            RETURN 'stored';
        EXCEPTION
            WHEN deadlock_detected OR serialization_failure THEN
                IF attempt < 3 THEN
                    CONTINUE;
                END IF;
                INSERT INTO abtest_rejected (line, reason)
                    VALUES (line, 'not stored: ' || SQLSTATE || ' '
                                  || SQLERRM);
                RETURN 'rejected';
            WHEN OTHERS THEN
                -- everything of this line is undone: kept aside with
                -- why, so that it can be taken again once the store is
                -- fixed
                INSERT INTO abtest_rejected (line, reason)
                    VALUES (line, CASE WHEN j IS NULL
                                  THEN 'not JSON: ' || SQLERRM
                                  ELSE 'not stored: ' || SQLSTATE || ' '
                                       || SQLERRM END);
                RETURN 'rejected';
        END;
    END LOOP;
END
$$;


CREATE OR REPLACE FUNCTION abtest_event_lines_ingest()
    RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM abtest_ingest(NEW.line);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER abtest_event_lines_ingest
    BEFORE INSERT ON abtest_event_lines
    FOR EACH ROW EXECUTE FUNCTION abtest_event_lines_ingest();
