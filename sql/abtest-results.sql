-- ngx_http_abtest_module: the fleet's results, read from the summaries
-- that sql/abtest-events.sql keeps (a few rows per group: no read scans
-- the events).  One query per figure, for an analyst with psql:
--
--   psql -d abtest -v experiment=homepage_button_test \
--        -f sql/abtest-results.sql
--
-- Each query is one statement ending with ";" alone at a line's end, so
-- that a tool may run them one by one.  Every query reads the current
-- statistics epoch of each generation of the experiment (its name with
-- its groups: a rolling deploy has two): the stats_start_ms of the
-- store's row (sql/abtest.sql, the servers' abtest_store), or, for a
-- generation the store has no row of (servers without abtest_store), the
-- newest epoch its events were counted in.  Load sql/abtest.sql too
-- where no server has made it (an empty table is enough).
--
-- Times are ms since the epoch as the servers count them (start_ms), and
-- timestamps in the session's time zone.


-- 1. Devices per group: exposed (an exposure event in the epoch),
-- converted (a goal event at or after the device's first exposure) and
-- their ratio, every group of the generation listed (0 when none).
-- Devices seen in more than one group are in none (query 2).
WITH epoch AS (
    SELECT x.name AS experiment, x.groups, x.stats_start_ms AS start_ms
    FROM abtest_experiments x
    WHERE x.name = :'experiment' AND x.stats_start_ms IS NOT NULL
    UNION ALL
    SELECT e.experiment, e.groups, max(e.start_ms)
    FROM abtest_group_events e
    WHERE e.experiment = :'experiment'
      AND NOT EXISTS (SELECT 1 FROM abtest_experiments x
                      WHERE x.name = e.experiment AND x.groups = e.groups)
    GROUP BY e.experiment, e.groups
)
SELECT p.groups, p.start_ms, p.group_name,
       coalesce(sum(d.exposed), 0) AS exposed,
       coalesce(sum(d.converted), 0) AS converted,
       round(sum(d.converted)::numeric / nullif(sum(d.exposed), 0), 6)
           AS rate
FROM (SELECT epoch.*, unnest(string_to_array(epoch.groups, ','))
             AS group_name
      FROM epoch) p
LEFT JOIN abtest_group_devices d
       ON d.experiment = p.experiment AND d.groups = p.groups
      AND d.start_ms = p.start_ms AND d.group_name = p.group_name
GROUP BY p.groups, p.start_ms, p.group_name
ORDER BY p.groups COLLATE "C", p.group_name COLLATE "C";


-- 2. Devices seen in more than one group of the epoch (weights changed
-- under devices without a group cookie, a forced group the server
-- counted nonetheless): counted in no group, as GrowthBook does.
WITH epoch AS (
    SELECT x.name AS experiment, x.groups, x.stats_start_ms AS start_ms
    FROM abtest_experiments x
    WHERE x.name = :'experiment' AND x.stats_start_ms IS NOT NULL
    UNION ALL
    SELECT e.experiment, e.groups, max(e.start_ms)
    FROM abtest_group_events e
    WHERE e.experiment = :'experiment'
      AND NOT EXISTS (SELECT 1 FROM abtest_experiments x
                      WHERE x.name = e.experiment AND x.groups = e.groups)
    GROUP BY e.experiment, e.groups
)
SELECT epoch.groups, epoch.start_ms, coalesce(sum(m.devices), 0) AS multiple
FROM epoch
LEFT JOIN abtest_multiple m
       ON m.experiment = epoch.experiment AND m.groups = epoch.groups
      AND m.start_ms = epoch.start_ms
GROUP BY epoch.groups, epoch.start_ms
ORDER BY epoch.groups COLLATE "C";


-- 3. Events per name per group: every event the servers counted (those
-- of multiple devices too), as the servers' own statistics count them,
-- but fleet-wide and with each name of its own.
WITH epoch AS (
    SELECT x.name AS experiment, x.groups, x.stats_start_ms AS start_ms
    FROM abtest_experiments x
    WHERE x.name = :'experiment' AND x.stats_start_ms IS NOT NULL
    UNION ALL
    SELECT e.experiment, e.groups, max(e.start_ms)
    FROM abtest_group_events e
    WHERE e.experiment = :'experiment'
      AND NOT EXISTS (SELECT 1 FROM abtest_experiments x
                      WHERE x.name = e.experiment AND x.groups = e.groups)
    GROUP BY e.experiment, e.groups
)
SELECT e.groups, e.start_ms, e.group_name, e.event, sum(e.n) AS events
FROM epoch
JOIN abtest_group_events e
  ON e.experiment = epoch.experiment AND e.groups = epoch.groups
 AND e.start_ms = epoch.start_ms
GROUP BY e.groups, e.start_ms, e.group_name, e.event
ORDER BY e.groups COLLATE "C", e.group_name COLLATE "C",
         e.event COLLATE "C";


-- 4. Lag: per node, the newest event that reached the store (by the
-- server's received time), its age now (what the results lag behind
-- that server, when it is sending), and how long it took to arrive.
-- The fleet's row (node NULL) is the newest of all.
SELECT * FROM (
    SELECT n.node, n.newest_received, n.newest_stored_at,
           clock_timestamp() - n.newest_received AS age,
           n.newest_stored_at - n.newest_received AS delay
    FROM abtest_nodes n
    UNION ALL
    SELECT NULL, max(newest_received), max(newest_stored_at),
           clock_timestamp() - max(newest_received), NULL
    FROM abtest_nodes
) lag
ORDER BY node COLLATE "C" NULLS LAST;


-- 5. Nodes that sent events in the last minute: a new event of theirs
-- arrived since (their last_stored_at), with the newest one's time.
SELECT n.node, n.last_stored_at, n.newest_received
FROM abtest_nodes n
WHERE n.last_stored_at >= clock_timestamp() - interval '1 minute'
ORDER BY n.node COLLATE "C";
