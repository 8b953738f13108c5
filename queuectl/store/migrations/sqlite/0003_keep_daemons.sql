-- keep_daemons: 1 = processes the command leaves running when it exits are not killed
-- (by default a worker kills every descendant of a job when it ends).
ALTER TABLE jobs ADD COLUMN keep_daemons INTEGER NOT NULL DEFAULT 0;
