/* `ficus ctl`: the operator CLI, a client of the admin API. */
#ifndef FX_CTL_H
#define FX_CTL_H

/* Run `ficus ctl ...` with argv as given to main (argv[1] == "ctl").
 * Returns the process exit status: 0 success, 1 failure reported by the
 * server or unreachable server, 2 usage error. Prints to stdout/stderr. */
int fx_ctl_main(int argc, char **argv);

#endif
