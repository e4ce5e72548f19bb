/* `ficus ctl`: the operator CLI, a client of the admin API. */
#ifndef FX_CTL_H
#define FX_CTL_H

/* Run `ficus ctl ...` with argv as given to main (argv[1] == "ctl").
 * Returns the process exit status: 0 success, 1 failure reported by the
 * server or unreachable server, 2 usage error. Prints to stdout/stderr. */
int fx_ctl_main(int argc, char **argv);

#include <stddef.h>

/* Run `ficus plan ...` (argv[1] == "plan", plan_cli.c): what a reload into
 * -c NEW.yaml would change. Returns 0 no change, 1 changes, 2 error. */
int fx_ctl_plan_main(int argc, char **argv);

/* One admin API call, for other CLI commands (ficus debt with --admin URL).
 * `admin` is an http URL or "HOST:PORT"; the bearer token comes from
 * `token_file` (first token line) when not NULL, else FICUS_ADMIN_TOKEN when
 * set. `body` (NUL-terminated JSON) may be NULL. On success returns 0 with the
 * HTTP status in *status and the body (owned by the caller, NUL-terminated)
 * in *resp and *resp_len. On failure prints "ficus ctl: ..." to stderr and
 * returns 1 (unreachable or malformed answer) or 2 (bad address or token
 * file). CLI thread only. */
int fx_ctl_request(const char *admin, const char *token_file, const char *method, const char *path,
                   const char *body, int *status, char **resp, size_t *resp_len);

#endif
