-- keep_daemons: true = processes the command leaves running when it exits are not killed
-- (by default a worker kills every descendant of a job when it ends).
ALTER TABLE jobs ADD COLUMN keep_daemons boolean NOT NULL DEFAULT false;
