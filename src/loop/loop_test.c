/* Unit tests for the event loop: timer ordering, re-arming and io dispatch. */
#include <sys/epoll.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* cmocka.h relies on the headers above. */
#include <cmocka.h>

#include "../core/err.h"
#include "loop.h"

#define MAX_FIRED 1100
#define NRANDOM   1000

/* What the timer callbacks record, in firing order. */
struct rec {
    struct fx_loop *loop;
    size_t nfired;
    int ids[MAX_FIRED];
    uint64_t due[MAX_FIRED];      /* deadline the timer was armed for */
    uint64_t fired_at[MAX_FIRED]; /* loop clock when the callback ran */
};

/* A timer embedded in its owner, as production code does. */
struct tt {
    struct fx_timer timer;
    struct rec *rec;
    int id;
    uint64_t due;            /* expected deadline, kept by the test */
    struct tt *chain;        /* armed from this timer's callback when non-NULL */
    uint64_t chain_ms;       /* delay used for `chain` */
    unsigned int rearm_left; /* re-arm itself this many more times */
    uint64_t rearm_ms;
};

static struct tt *tt_of(struct fx_timer *t)
{
    return (struct tt *)(void *)((char *)t - offsetof(struct tt, timer));
}

static void on_timer(struct fx_timer *t)
{
    struct tt *x = tt_of(t);
    struct rec *r = x->rec;
    assert_true(r->nfired < MAX_FIRED);
    r->ids[r->nfired] = x->id;
    r->due[r->nfired] = x->due;
    r->fired_at[r->nfired] = r->loop->now_ms;
    r->nfired++;
    if (x->chain != NULL) {
        x->chain->due = r->loop->now_ms + x->chain_ms;
        assert_int_equal(fx_timer_arm(r->loop, &x->chain->timer, x->chain_ms), 0);
    }
    if (x->rearm_left > 0) {
        x->rearm_left--;
        x->due = r->loop->now_ms + x->rearm_ms;
        assert_int_equal(fx_timer_arm(r->loop, &x->timer, x->rearm_ms), 0);
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned int ms)
{
    struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };
    (void)nanosleep(&ts, NULL);
}

static void tt_init(struct tt *x, struct rec *r, int id)
{
    memset(x, 0, sizeof(*x));
    fx_timer_init(&x->timer, on_timer);
    x->rec = r;
    x->id = id;
}

static void tt_arm(struct fx_loop *l, struct tt *x, uint64_t ms)
{
    x->due = l->now_ms + ms;
    assert_int_equal(fx_timer_arm(l, &x->timer, ms), 0);
}

/* Run the loop until `want` callbacks have been recorded (or 1.5 s pass). */
static void run_until(struct fx_loop *l, struct rec *r, size_t want)
{
    uint64_t deadline = mono_ms() + 1500;
    while (r->nfired < want && mono_ms() < deadline)
        assert_true(fx_loop_run_once(l, 50) >= 0);
    assert_int_equal(r->nfired, want);
}

/* Run the loop for about `ms` milliseconds. */
static void run_for(struct fx_loop *l, uint64_t ms)
{
    uint64_t end = mono_ms() + ms;
    while (mono_ms() < end)
        assert_true(fx_loop_run_once(l, 5) >= 0);
}

static int setup_loop(void **state)
{
    struct fx_loop *l = calloc(1, sizeof(*l));
    if (l == NULL || fx_loop_init(l) != 0) {
        free(l);
        return -1;
    }
    *state = l;
    return 0;
}

static int teardown_loop(void **state)
{
    struct fx_loop *l = *state;
    fx_loop_fini(l);
    free(l);
    return 0;
}

static struct rec *rec_new(struct fx_loop *l)
{
    struct rec *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->loop = l;
    return r;
}

/* Every recorded firing happened at or after its deadline. */
static void assert_not_early(const struct rec *r)
{
    for (size_t i = 0; i < r->nfired; i++)
        assert_true(r->fired_at[i] >= r->due[i]);
}

/* ---- loop basics -------------------------------------------------------- */

static void test_loop_init_fini(void **state)
{
    (void)state;
    struct fx_loop l;
    assert_int_equal(fx_loop_init(&l), 0);
    assert_true(l.epfd >= 0);
    assert_int_equal(l.nheap, 0);
    assert_true(l.now_ms > 0);
    assert_int_equal(l.now_ms, l.now_us / 1000u);
    fx_loop_fini(&l);
    assert_int_equal(l.epfd, -1);
    assert_null(l.heap);
}

static void test_loop_update_time_monotonic(void **state)
{
    struct fx_loop *l = *state;
    uint64_t before = l->now_us;
    sleep_ms(3);
    fx_loop_update_time(l);
    assert_true(l->now_us >= before + 3000);
    assert_int_equal(l->now_ms, l->now_us / 1000u);
}

static void test_loop_run_once_waits_without_events(void **state)
{
    struct fx_loop *l = *state;
    uint64_t t0 = mono_ms();
    assert_int_equal(fx_loop_run_once(l, 20), 0);
    uint64_t dt = mono_ms() - t0;
    assert_true(dt >= 19);
    assert_true(dt < 500);
}

/* ---- timers ------------------------------------------------------------- */

static void test_timer_init_disarmed(void **state)
{
    (void)state;
    struct fx_timer t;
    memset(&t, 0x5a, sizeof(t));
    fx_timer_init(&t, on_timer);
    assert_int_equal(t.due, 0);
    assert_int_equal(t.heap_idx, FX_TIMER_IDLE);
    assert_ptr_equal(t.cb, on_timer);
}

static void test_timer_arm_fires_in_deadline_order(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    static const uint64_t ms[] = { 40, 10, 30, 5, 20, 15 };
    static const int want[] = { 3, 1, 5, 4, 2, 0 };
    struct tt x[6];
    fx_loop_update_time(l);
    for (int i = 0; i < 6; i++) {
        tt_init(&x[i], r, i);
        tt_arm(l, &x[i], ms[i]);
    }
    assert_int_equal(l->nheap, 6);
    run_until(l, r, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r->ids[i], want[i]);
    assert_not_early(r);
    assert_int_equal(l->nheap, 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(x[i].timer.due, 0);
        assert_int_equal(x[i].timer.heap_idx, FX_TIMER_IDLE);
    }
    free(r);
}

static void test_timer_arm_single_run_once_wakes_for_timer(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a;
    tt_init(&a, r, 1);
    fx_loop_update_time(l);
    tt_arm(l, &a, 10);
    uint64_t t0 = mono_ms();
    /* The loop must not sleep the full max_wait when a timer is due sooner. */
    for (int i = 0; i < 3 && r->nfired == 0; i++)
        assert_int_equal(fx_loop_run_once(l, 1000), 0);
    assert_int_equal(r->nfired, 1);
    assert_true(mono_ms() - t0 < 500);
    assert_not_early(r);
    free(r);
}

static void test_timer_arm_later_postpones(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, &a, 10);
    tt_arm(l, &b, 30);
    tt_arm(l, &a, 50); /* later: the heap keeps the old key */
    assert_int_equal(l->nheap, 2);
    run_for(l, 20);
    assert_int_equal(r->nfired, 0);
    /* The old key fired and the timer went back into the heap. */
    assert_int_not_equal(a.timer.heap_idx, FX_TIMER_IDLE);
    assert_int_equal(a.timer.due, a.due);
    run_until(l, r, 2);
    assert_int_equal(r->ids[0], 2);
    assert_int_equal(r->ids[1], 1);
    assert_not_early(r);
    free(r);
}

static void test_timer_arm_earlier_fires_earlier(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, &a, 50);
    tt_arm(l, &b, 30);
    tt_arm(l, &a, 10);
    assert_int_equal(l->nheap, 2);
    run_until(l, r, 1);
    assert_int_equal(r->ids[0], 1);
    assert_true(r->fired_at[0] < b.due);
    run_until(l, r, 2);
    assert_int_equal(r->ids[1], 2);
    assert_not_early(r);
    free(r);
}

/* Re-arming several times keeps a single heap entry and fires once. */
static void test_timer_arm_repeatedly_fires_once(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a;
    tt_init(&a, r, 1);
    fx_loop_update_time(l);
    for (uint64_t ms = 5; ms <= 25; ms += 5)
        tt_arm(l, &a, ms);
    tt_arm(l, &a, 15);
    assert_int_equal(l->nheap, 1);
    run_until(l, r, 1);
    run_for(l, 30);
    assert_int_equal(r->nfired, 1);
    assert_int_equal(r->due[0], a.due);
    assert_not_early(r);
    free(r);
}

static void test_timer_stop_prevents_firing(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b, c;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    tt_init(&c, r, 3);
    fx_loop_update_time(l);
    tt_arm(l, &a, 10);
    tt_arm(l, &b, 20);
    tt_arm(l, &c, 5);
    fx_timer_stop(l, &a.timer);
    assert_int_equal(a.timer.due, 0);
    run_until(l, r, 2);
    run_for(l, 20);
    assert_int_equal(r->nfired, 2);
    assert_int_equal(r->ids[0], 3);
    assert_int_equal(r->ids[1], 2);
    /* Stopping twice or stopping an idle timer is harmless; it can be re-armed. */
    fx_timer_stop(l, &a.timer);
    fx_timer_stop(l, &b.timer);
    tt_arm(l, &a, 1);
    run_until(l, r, 3);
    assert_int_equal(r->ids[2], 1);
    free(r);
}

static void test_timer_stop_after_lazy_rearm(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, &a, 5);
    tt_arm(l, &a, 20);
    tt_arm(l, &b, 30);
    fx_timer_stop(l, &a.timer);
    run_until(l, r, 1);
    assert_int_equal(r->ids[0], 2);
    free(r);
}

/* A stopped timer that is still queued can be re-armed, later or earlier
 * than its old key, and then fires exactly once at the new deadline. */
static void test_timer_stop_then_rearm_fires_once(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, &a, 10);
    fx_timer_stop(l, &a.timer);
    tt_arm(l, &a, 30);
    tt_arm(l, &b, 20);
    tt_arm(l, &b, 40);
    fx_timer_stop(l, &b.timer);
    tt_arm(l, &b, 5);
    run_until(l, r, 2);
    assert_int_equal(r->ids[0], 2);
    assert_int_equal(r->ids[1], 1);
    assert_int_equal(r->due[1], a.due);
    assert_not_early(r);
    run_for(l, 30);
    assert_int_equal(r->nfired, 2);
    free(r);
}

static void test_timer_del_unqueues(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b, c;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    tt_init(&c, r, 3);
    fx_loop_update_time(l);
    tt_arm(l, &a, 10);
    tt_arm(l, &b, 5);
    tt_arm(l, &c, 15);
    assert_int_equal(l->nheap, 3);
    fx_timer_del(l, &b.timer);
    assert_int_equal(b.timer.due, 0);
    assert_int_equal(b.timer.heap_idx, FX_TIMER_IDLE);
    assert_int_equal(l->nheap, 2);
    /* del after a lazy stop still unqueues; del of an idle timer is harmless. */
    fx_timer_stop(l, &c.timer);
    fx_timer_del(l, &c.timer);
    assert_int_equal(c.timer.heap_idx, FX_TIMER_IDLE);
    assert_int_equal(l->nheap, 1);
    fx_timer_del(l, &c.timer);
    assert_int_equal(l->nheap, 1);
    run_until(l, r, 1);
    run_for(l, 20);
    assert_int_equal(r->nfired, 1);
    assert_int_equal(r->ids[0], 1);
    assert_int_equal(l->nheap, 0);
    free(r);
}

/* A timer whose owner goes away while its key is pending: after
 * fx_timer_del the loop never touches it again (ASan checks the access). */
static void test_timer_del_before_owner_freed(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt *heap_owned = malloc(sizeof(*heap_owned));
    assert_non_null(heap_owned);
    struct tt keep;
    tt_init(heap_owned, r, 1);
    tt_init(&keep, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, heap_owned, 5);
    tt_arm(l, heap_owned, 25); /* lazily re-armed: old key still queued */
    tt_arm(l, &keep, 15);
    fx_timer_del(l, &heap_owned->timer);
    free(heap_owned);
    run_until(l, r, 1);
    run_for(l, 20);
    assert_int_equal(r->nfired, 1);
    assert_int_equal(r->ids[0], 2);
    assert_int_equal(l->nheap, 0);
    free(r);
}

/* Stopping a timer from another timer's callback in the same iteration. */
static void stop_other(struct fx_timer *t);

struct stopper {
    struct fx_timer timer;
    struct fx_loop *loop;
    struct tt *victim;
};

static void stop_other(struct fx_timer *t)
{
    struct stopper *s = (struct stopper *)(void *)((char *)t - offsetof(struct stopper, timer));
    fx_timer_stop(s->loop, &s->victim->timer);
}

static void test_timer_stop_from_callback(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt victim, last;
    tt_init(&victim, r, 1);
    tt_init(&last, r, 2);
    struct stopper s = { .loop = l, .victim = &victim };
    fx_timer_init(&s.timer, stop_other);
    fx_loop_update_time(l);
    assert_int_equal(fx_timer_arm(l, &s.timer, 5), 0);
    tt_arm(l, &victim, 6);
    tt_arm(l, &last, 25);
    sleep_ms(10); /* both the stopper and the victim are due together */
    run_until(l, r, 1);
    assert_int_equal(r->ids[0], 2);
    free(r);
}

static void test_timer_callback_arms_another(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    a.chain = &b;
    a.chain_ms = 10;
    fx_loop_update_time(l);
    tt_arm(l, &a, 5);
    run_until(l, r, 2);
    assert_int_equal(r->ids[0], 1);
    assert_int_equal(r->ids[1], 2);
    assert_true(r->fired_at[1] >= r->fired_at[0] + 10);
    assert_not_early(r);
    free(r);
}

static void test_timer_callback_rearms_itself(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a;
    tt_init(&a, r, 1);
    a.rearm_left = 3;
    a.rearm_ms = 5;
    fx_loop_update_time(l);
    tt_arm(l, &a, 5);
    run_until(l, r, 4);
    for (size_t i = 1; i < 4; i++)
        assert_true(r->fired_at[i] >= r->fired_at[i - 1] + 5);
    assert_not_early(r);
    run_for(l, 15);
    assert_int_equal(r->nfired, 4);
    free(r);
}

/* Two timers expire in the same iteration, one of them re-armed later than
 * the other: they must still fire in deadline order. */
static void test_timer_arm_later_keeps_order_when_late(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a, b;
    tt_init(&a, r, 1);
    tt_init(&b, r, 2);
    fx_loop_update_time(l);
    tt_arm(l, &a, 5);
    tt_arm(l, &b, 10);
    tt_arm(l, &a, 15); /* a: key 5, due 15; b: due 10 */
    sleep_ms(25);      /* both are overdue when the loop next runs */
    run_until(l, r, 2);
    assert_int_equal(r->ids[0], 2);
    assert_int_equal(r->ids[1], 1);
    free(r);
}

/* A zero-delay timer armed from a callback runs on a later iteration, so a
 * callback that keeps re-arming itself cannot starve io. */
static void test_timer_callback_rearm_zero_yields(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt a;
    tt_init(&a, r, 1);
    a.rearm_left = 50; /* bounded, so a broken loop still terminates */
    a.rearm_ms = 0;
    fx_loop_update_time(l);
    tt_arm(l, &a, 0);
    assert_int_equal(fx_loop_run_once(l, 10), 0);
    assert_int_equal(r->nfired, 1);
    fx_timer_stop(l, &a.timer);
    free(r);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void assert_due_nondecreasing(const struct rec *r)
{
    for (size_t i = 1; i < r->nfired; i++) {
        if (r->due[i] < r->due[i - 1])
            fail_msg("firing %zu (id %d, due %llu) after id %d (due %llu)", i, r->ids[i],
                     (unsigned long long)r->due[i], r->ids[i - 1],
                     (unsigned long long)r->due[i - 1]);
    }
}

static void test_timer_arm_many_random_in_order(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt *x = calloc(NRANDOM, sizeof(*x));
    assert_non_null(x);
    uint64_t seed = 0x9e3779b97f4a7c15u;
    fx_loop_update_time(l);
    for (int i = 0; i < NRANDOM; i++) {
        tt_init(&x[i], r, i);
        tt_arm(l, &x[i], 1 + xorshift(&seed) % 60);
    }
    assert_int_equal(l->nheap, NRANDOM);
    run_until(l, r, NRANDOM);
    assert_due_nondecreasing(r);
    assert_not_early(r);
    assert_int_equal(l->nheap, 0);
    /* Each timer fired exactly once. */
    unsigned char *seen = calloc(NRANDOM, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < r->nfired; i++) {
        assert_int_equal(seen[r->ids[i]], 0);
        seen[r->ids[i]] = 1;
    }
    free(seen);
    free(x);
    free(r);
}

/* Random earlier re-arms and stops mixed in. */
static void test_timer_arm_many_random_earlier_rearm_in_order(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    struct tt *x = calloc(NRANDOM, sizeof(*x));
    assert_non_null(x);
    uint64_t seed = 0x2545f4914f6cdd1du;
    fx_loop_update_time(l);
    for (int i = 0; i < NRANDOM; i++) {
        tt_init(&x[i], r, i);
        tt_arm(l, &x[i], 1 + xorshift(&seed) % 40);
    }
    size_t stopped = 0;
    for (int i = 0; i < NRANDOM; i++) {
        uint64_t v = xorshift(&seed) % 10;
        if (v < 4 && x[i].due > l->now_ms + 1)
            tt_arm(l, &x[i], xorshift(&seed) % (x[i].due - l->now_ms - 1) + 1);
        else if (v == 4) {
            fx_timer_stop(l, &x[i].timer);
            stopped++;
        }
    }
    run_until(l, r, NRANDOM - stopped);
    assert_due_nondecreasing(r);
    assert_not_early(r);
    free(x);
    free(r);
}

/* ---- io ----------------------------------------------------------------- */

struct pio {
    struct fx_io io;
    unsigned int calls;
    uint32_t events; /* union of all events seen */
    uint32_t last;
};

static void on_io(struct fx_io *io, uint32_t events)
{
    struct pio *p = (struct pio *)(void *)((char *)io - offsetof(struct pio, io));
    p->calls++;
    p->events |= events;
    p->last = events;
}

static void make_pipe(int fds[2])
{
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static void write_byte(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

static void test_loop_add_pipe_readable(void **state)
{
    struct fx_loop *l = *state;
    int fds[2];
    make_pipe(fds);
    struct pio p = { .io = { .fd = fds[0], .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), 0);
    assert_int_equal(fx_loop_run_once(l, 0), 0);
    assert_int_equal(p.calls, 0);

    write_byte(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(p.calls, 1);
    assert_true(p.last & EPOLLIN);

    /* Edge-triggered: unread data does not report again. */
    assert_int_equal(fx_loop_run_once(l, 10), 0);
    assert_int_equal(p.calls, 1);

    /* A new write is a new edge: exactly one more event. */
    write_byte(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(p.calls, 2);
    assert_true(p.last & EPOLLIN);
    assert_int_equal(fx_loop_run_once(l, 10), 0);
    assert_int_equal(p.calls, 2);

    fx_loop_del(l, &p.io);
    (void)close(fds[0]);
    (void)close(fds[1]);
}

static void test_loop_del_stops_events(void **state)
{
    struct fx_loop *l = *state;
    int fds[2];
    make_pipe(fds);
    struct pio p = { .io = { .fd = fds[0], .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), 0);
    write_byte(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(p.calls, 1);

    fx_loop_del(l, &p.io);
    write_byte(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 20), 0);
    assert_int_equal(p.calls, 0 + 1);

    /* It can be registered again afterwards. */
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), 0);
    write_byte(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(p.calls, 2);
    fx_loop_del(l, &p.io);
    (void)close(fds[0]);
    (void)close(fds[1]);
}

static void test_loop_add_two_fds_dispatch_to_own_callback(void **state)
{
    struct fx_loop *l = *state;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    struct pio pa = { .io = { .fd = a[0], .cb = on_io } };
    struct pio pb = { .io = { .fd = b[0], .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &pa.io, EPOLLIN), 0);
    assert_int_equal(fx_loop_add(l, &pb.io, EPOLLIN), 0);
    write_byte(b[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(pa.calls, 0);
    assert_int_equal(pb.calls, 1);
    write_byte(a[1]);
    write_byte(b[1]);
    int n = fx_loop_run_once(l, 200);
    if (n == 1) /* the second edge may land just after epoll_wait returned */
        n += fx_loop_run_once(l, 200);
    assert_int_equal(n, 2);
    assert_int_equal(pa.calls, 1);
    assert_int_equal(pb.calls, 2);
    fx_loop_del(l, &pa.io);
    fx_loop_del(l, &pb.io);
    (void)close(a[0]);
    (void)close(a[1]);
    (void)close(b[0]);
    (void)close(b[1]);
}

static void test_loop_add_writable_and_hangup(void **state)
{
    struct fx_loop *l = *state;
    int fds[2];
    make_pipe(fds);
    struct pio w = { .io = { .fd = fds[1], .cb = on_io } };
    struct pio rd = { .io = { .fd = fds[0], .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &w.io, EPOLLOUT), 0);
    assert_int_equal(fx_loop_add(l, &rd.io, EPOLLIN | EPOLLRDHUP), 0);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(w.calls, 1);
    assert_true(w.last & EPOLLOUT);
    assert_int_equal(rd.calls, 0);

    fx_loop_del(l, &w.io);
    (void)close(fds[1]);
    assert_int_equal(fx_loop_run_once(l, 200), 1);
    assert_int_equal(rd.calls, 1);
    assert_true(rd.last & EPOLLHUP);
    fx_loop_del(l, &rd.io);
    (void)close(fds[0]);
}

static void test_loop_add_rejects_bad_fd(void **state)
{
    struct fx_loop *l = *state;
    struct pio p = { .io = { .fd = -1, .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), FX_ESYS);
    int fds[2];
    make_pipe(fds);
    p.io.fd = fds[0];
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), 0);
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), FX_ESYS); /* already added */
    fx_loop_del(l, &p.io);
    (void)close(fds[0]);
    (void)close(fds[1]);
}

static void test_loop_run_once_io_and_timer_same_iteration(void **state)
{
    struct fx_loop *l = *state;
    struct rec *r = rec_new(l);
    int fds[2];
    make_pipe(fds);
    struct pio p = { .io = { .fd = fds[0], .cb = on_io } };
    assert_int_equal(fx_loop_add(l, &p.io, EPOLLIN), 0);
    struct tt a;
    tt_init(&a, r, 1);
    fx_loop_update_time(l);
    tt_arm(l, &a, 5);
    write_byte(fds[1]);
    sleep_ms(10);
    /* Only io events are counted; the due timer runs too. */
    assert_int_equal(fx_loop_run_once(l, 100), 1);
    assert_int_equal(p.calls, 1);
    assert_int_equal(r->nfired, 1);
    fx_loop_del(l, &p.io);
    (void)close(fds[0]);
    (void)close(fds[1]);
    free(r);
}

#define LOOP_TEST(f) cmocka_unit_test_setup_teardown(f, setup_loop, teardown_loop)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_init_fini),
        LOOP_TEST(test_loop_update_time_monotonic),
        LOOP_TEST(test_loop_run_once_waits_without_events),
        cmocka_unit_test(test_timer_init_disarmed),
        LOOP_TEST(test_timer_arm_fires_in_deadline_order),
        LOOP_TEST(test_timer_arm_single_run_once_wakes_for_timer),
        LOOP_TEST(test_timer_arm_later_postpones),
        LOOP_TEST(test_timer_arm_earlier_fires_earlier),
        LOOP_TEST(test_timer_arm_repeatedly_fires_once),
        LOOP_TEST(test_timer_stop_prevents_firing),
        LOOP_TEST(test_timer_stop_after_lazy_rearm),
        LOOP_TEST(test_timer_stop_then_rearm_fires_once),
        LOOP_TEST(test_timer_del_unqueues),
        LOOP_TEST(test_timer_del_before_owner_freed),
        LOOP_TEST(test_timer_stop_from_callback),
        LOOP_TEST(test_timer_callback_arms_another),
        LOOP_TEST(test_timer_callback_rearms_itself),
        LOOP_TEST(test_timer_arm_later_keeps_order_when_late),
        LOOP_TEST(test_timer_callback_rearm_zero_yields),
        LOOP_TEST(test_timer_arm_many_random_in_order),
        LOOP_TEST(test_timer_arm_many_random_earlier_rearm_in_order),
        LOOP_TEST(test_loop_add_pipe_readable),
        LOOP_TEST(test_loop_del_stops_events),
        LOOP_TEST(test_loop_add_two_fds_dispatch_to_own_callback),
        LOOP_TEST(test_loop_add_writable_and_hangup),
        LOOP_TEST(test_loop_add_rejects_bad_fd),
        LOOP_TEST(test_loop_run_once_io_and_timer_same_iteration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
