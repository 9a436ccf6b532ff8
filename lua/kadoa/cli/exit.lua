-- kadoa.cli.exit: the command's exit codes, by name, as its help lists
-- them. One table, so a command and the help cannot disagree on a number.

return { ok = 0, failed = 1, usage = 2, api = 3, timeout = 4, interrupted = 130 }
