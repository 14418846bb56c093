/* test-scheduler.c - poll timing: jitter, start-up spread, backoff, Retry-After; delivery retry delays */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dispatch.h"
#include "scheduler.h"

#define MIN (60 * 1000)
#define HOUR (60 * MIN)

static void interval_with_jitter(void **unused)
{
	(void)unused;
	/* r = 0.5 is the middle: exactly the interval; the ends are -10 % and +10 %. */
	assert_int_equal(schedule_next_delay_ms(15 * MIN, 0, 6 * HOUR, -1, 0.5), 15 * MIN);
	assert_int_equal(schedule_next_delay_ms(15 * MIN, 0, 6 * HOUR, -1, 0.0), 15 * MIN * 9 / 10);
	int64_t hi = schedule_next_delay_ms(15 * MIN, 0, 6 * HOUR, -1, 0.999999);
	assert_true(hi > 15 * MIN * 109 / 100 && hi <= 15 * MIN * 11 / 10);
}

static void backoff_doubles_and_caps(void **unused)
{
	(void)unused;
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 1, 6 * HOUR, -1, 0.5), 10 * MIN);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 2, 6 * HOUR, -1, 0.5), 20 * MIN);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 3, 6 * HOUR, -1, 0.5), 40 * MIN);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 6, 6 * HOUR, -1, 0.5), 320 * MIN);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 7, 6 * HOUR, -1, 0.5), 6 * HOUR);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 1000, 6 * HOUR, -1, 0.5), 6 * HOUR);
	/* An interval longer than the cap is never shortened by a failure. */
	assert_int_equal(schedule_next_delay_ms(24 * HOUR, 3, 6 * HOUR, -1, 0.5), 24 * HOUR);
}

static void retry_after_is_a_floor(void **unused)
{
	(void)unused;
	/* A server's Retry-After wins over a shorter schedule, even after jitter... */
	assert_int_equal(schedule_next_delay_ms(1000, 1, 6 * HOUR, 120, 0.0), 120 * 1000);
	/* ...but never shortens a longer one. */
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 0, 6 * HOUR, 5, 0.5), 10 * MIN);
	assert_int_equal(schedule_next_delay_ms(10 * MIN, 0, 6 * HOUR, 0, 0.5), 10 * MIN);
}

static void first_poll_spread(void **unused)
{
	(void)unused;
	assert_int_equal(schedule_first_delay_ms(10 * MIN, 0, 0.0), 0);
	assert_int_equal(schedule_first_delay_ms(10 * MIN, 0, 0.5), 5 * MIN);
	/* A shorter spread window caps it. */
	assert_int_equal(schedule_first_delay_ms(10 * MIN, 2000, 0.5), 1000);
	/* A spread longer than the interval does not stretch it. */
	assert_int_equal(schedule_first_delay_ms(10 * MIN, 2 * HOUR, 0.5), 5 * MIN);
}

static void delivery_retry_backoff(void **unused)
{
	(void)unused;
	assert_int_equal(delivery_retry_delay_s(1, 0.5), 10);
	assert_int_equal(delivery_retry_delay_s(2, 0.5), 20);
	assert_int_equal(delivery_retry_delay_s(3, 0.5), 40);
	assert_int_equal(delivery_retry_delay_s(30, 0.5), 3600);
	assert_int_equal(delivery_retry_delay_s(1, 0.0), 8);
	assert_int_equal(delivery_retry_delay_s(1, 0.999), 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(interval_with_jitter),
		cmocka_unit_test(backoff_doubles_and_caps),
		cmocka_unit_test(retry_after_is_a_floor),
		cmocka_unit_test(first_poll_spread),
		cmocka_unit_test(delivery_retry_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
