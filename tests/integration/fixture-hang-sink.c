/* fixture-hang-sink.c - integration fixture: a sink that accepts every delivery and never answers */
#include <errno.h>
#include <stdlib.h>

#include <vigil/plugin.h>

/*
 * deliver() keeps the delivery token and returns 0 without calling
 * host->done(): to the daemon the alert is in flight for as long as the
 * process lives (until delivery_timeout). The integration tests kill or
 * stop vigild at that point to check that nothing is lost.
 */

struct hang_sink {
	const struct vigil_host *host;
	struct vigil_delivery **held;
	size_t n_held;
};

static int hang_create(const struct vigil_host *host, void **state)
{
	struct hang_sink *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->host = host;
	*state = s;
	return 0;
}

static void hang_destroy(void *state)
{
	struct hang_sink *s = state;
	if (!s)
		return;
	/* Pending deliveries are abandoned: the outbox keeps them. */
	free(s->held);
	free(s);
}

static int hang_deliver(void *state, const struct vigil_alert *alert,
                        struct vigil_delivery *delivery)
{
	struct hang_sink *s = state;
	struct vigil_delivery **held = realloc(s->held, (s->n_held + 1) * sizeof *held);
	if (!held)
		return -ENOMEM;
	held[s->n_held++] = delivery;
	s->held = held;
	s->host->log(s->host->inst, VIGIL_LOG_INFO,
	             "holding alert %lld (attempt %u, idempotency key %s), never answering",
	             (long long)alert->id, alert->attempt,
	             alert->idempotency_key ? alert->idempotency_key : "(none)");
	return 0;
}

static const struct vigil_plugin_methods hang_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = hang_create,
	.destroy = hang_destroy,
	.deliver = hang_deliver,
};

static const struct vigil_plugin hang_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fixture-hang-sink",
	.version = "1.0",
	.description = "integration fixture: accepts deliveries and never answers",
	.kind = VIGIL_PLUGIN_SINK,
	.methods = &hang_methods,
};

VIGIL_PLUGIN_DEFINE(hang_plugin)
