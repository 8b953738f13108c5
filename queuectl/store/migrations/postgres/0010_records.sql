-- Records, as migrations/sqlite/0009_records.sql.
CREATE TABLE records (
    kind text NOT NULL,
    name text NOT NULL,
    value text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (kind, name)
);
