/* Persistence of migration state and the audit log (SQLite, WAL mode).
 * A store handle is used by one thread at a time (callers serialise). */
#ifndef FX_STORE_H
#define FX_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/err_types.h"
#include "../migrate/migrate_types.h"

struct fx_store;

/* Open or create the database at `path` (tables created if missing, WAL
 * journal, synchronous=NORMAL, busy timeout 5 s). Returns 0 and *out, or
 * FX_EIO with err naming the path and SQLite's message. */
int fx_store_open(const char *path, struct fx_store **out, struct fx_err *err);

/* The underlying SQLite connection, for modules that keep their own tables in
 * the same database (shadow samples, debt registry). Each such module creates
 * its tables with CREATE TABLE IF NOT EXISTS and prefixes them with its name.
 * Borrowed: valid until fx_store_close(); same threading rule as the handle. */
struct sqlite3 *fx_store_db(struct fx_store *s);

/* The path the store was opened with (borrowed, for messages). */
const char *fx_store_path(const struct fx_store *s);

/* RFC 3339 UTC with milliseconds ("2026-11-25T17:43:53.123Z") into out[cap];
 * empty when `ms` cannot be represented. Any thread. */
void fx_store_fmt_time(uint64_t ms, char *out, size_t cap);

/* A JSON string (new reference) from stored text of `n` bytes: jansson
 * refuses invalid UTF-8, which an old row or a careless writer may hold, so
 * such bytes become '?'. NULL text gives "". NULL only when out of memory. */
json_t *fx_store_json_text(const char *txt, size_t n);

/* Close; NULL is ignored. */
void fx_store_close(struct fx_store *s);

/* Load the state of `route`. Returns 0, FX_ENOTFOUND, or FX_EIO. */
int fx_store_get_state(struct fx_store *s, const char *route, struct fx_mig_state *out);

/* Insert or replace st (keyed by st->route), durably. Returns 0 or FX_EIO. */
int fx_store_put_state(struct fx_store *s, const struct fx_mig_state *st);

/* Append an audit record; e->id is ignored and the new id written back.
 * Records are never updated or deleted. Returns 0 or FX_EIO. */
int fx_store_add_event(struct fx_store *s, struct fx_mig_event *e);

/* Write the last `limit` events (all routes when route is NULL), oldest first,
 * as a JSON array of objects {id, time (RFC 3339 UTC with ms), time_ms,
 * actor, route, kind, old, new, reason}. Returns 0 or FX_EIO. */
int fx_store_events_json(struct fx_store *s, const char *route, size_t limit, FILE *f);

#endif
