
/*
 * Generated from sql/abtest.sql by util/sql2c.pl: do not edit.
 */


#ifndef _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_
#define _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_


#define NGX_HTTP_ABTEST_STORE_SCHEMA                                          \
    "CREATE SEQUENCE IF NOT EXISTS abtest_version;\n"                         \
    "CREATE TABLE IF NOT EXISTS abtest_experiments (\n"                       \
    "  name text NOT NULL,\n"                                                 \
    "  groups text NOT NULL,\n"                                               \
    "  weights jsonb NOT NULL,\n"                                             \
    "  state text NOT NULL\n"                                                 \
    "  CHECK (state IN ('active', 'inactive', 'rollout')),\n"                 \
    "  rollout_group text,\n"                                                 \
    "  start_ms bigint,\n"                                                    \
    "  end_ms bigint,\n"                                                      \
    "  stats_start_ms bigint,\n"                                              \
    "  history jsonb NOT NULL DEFAULT '[]',\n"                                \
    "  version bigint NOT NULL DEFAULT 0,\n"                                  \
    "  updated_by text,\n"                                                    \
    "  updated_at timestamptz NOT NULL DEFAULT now(),\n"                      \
    "  PRIMARY KEY (name, groups)\n"                                          \
    ");\n"                                                                    \
    "ALTER TABLE abtest_experiments\n"                                        \
    "  ADD COLUMN IF NOT EXISTS coverage integer NOT NULL DEFAULT 10000;\n"   \
    "ALTER TABLE abtest_experiments\n"                                        \
    "  ADD COLUMN IF NOT EXISTS schedule_start_ms bigint;\n"                  \
    "ALTER TABLE abtest_experiments\n"                                        \
    "  ADD COLUMN IF NOT EXISTS schedule_stop_ms bigint;\n"                   \
    "CREATE INDEX IF NOT EXISTS abtest_experiments_by_version\n"              \
    "  ON abtest_experiments (version);\n"                                    \
    "CREATE OR REPLACE FUNCTION abtest_experiments_version()\n"               \
    "  RETURNS trigger LANGUAGE plpgsql AS $$\n"                              \
    "BEGIN\n"                                                                 \
    "  NEW.version := nextval('abtest_version');\n"                           \
    "  NEW.updated_at := now();\n"                                            \
    "  PERFORM pg_notify('abtest', NEW.version::text);\n"                     \
    "  RETURN NEW;\n"                                                         \
    "END\n"                                                                   \
    "$$;\n"                                                                   \
    "CREATE OR REPLACE TRIGGER abtest_experiments_version\n"                  \
    "  BEFORE INSERT OR UPDATE ON abtest_experiments\n"                       \
    "  FOR EACH ROW EXECUTE FUNCTION abtest_experiments_version();\n"         \
    "CREATE TABLE IF NOT EXISTS abtest_settings (\n"                          \
    "  name text PRIMARY KEY,\n"                                              \
    "  value bigint NOT NULL,\n"                                              \
    "  version bigint NOT NULL DEFAULT 0,\n"                                  \
    "  updated_by text,\n"                                                    \
    "  updated_at timestamptz NOT NULL DEFAULT now()\n"                       \
    ");\n"                                                                    \
    "CREATE OR REPLACE TRIGGER abtest_settings_version\n"                     \
    "  BEFORE INSERT OR UPDATE ON abtest_settings\n"                          \
    "  FOR EACH ROW EXECUTE FUNCTION abtest_experiments_version();\n"


#endif /* _NGX_HTTP_ABTEST_STORE_SQL_H_INCLUDED_ */
