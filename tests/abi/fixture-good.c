/* fixture-good.c - ABI fixture: a well-formed source that emits one item per poll */
#include <errno.h>
#include <stdlib.h>

#include <vigil/plugin.h>

struct good {
	const struct vigil_host *host;
};

static int good_create(const struct vigil_host *host, void **state)
{
	struct good *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->host = host;
	/* Read both options so a loader test can see defaults and values arrive. */
	host->log(host->inst, VIGIL_LOG_DEBUG, "%s x %lld",
	          host->get_string(host->inst, "greeting"),
	          (long long)host->get_int(host->inst, "count", -1));
	*state = g;
	return 0;
}

static void good_destroy(void *state)
{
	free(state);
}

static int good_poll(void *state)
{
	struct good *g = state;
	struct vigil_item item = VIGIL_ITEM_INIT;
	item.id = "good-1";
	item.title = "good item";
	int err = g->host->emit(g->host->inst, &item);
	g->host->poll_done(g->host->inst, err, err ? "emit failed" : NULL);
	return 0;
}

static const struct vigil_option good_options[] = {
	{
		.key = "greeting",
		.type = VIGIL_OPT_STRING,
		.default_value = "hello",
		.description = "a string option with a default",
	},
	{
		.key = "count",
		.type = VIGIL_OPT_INT,
		.required = true,
		.description = "a required integer option",
	},
};

static const struct vigil_plugin_methods good_methods = {
	.size = sizeof(struct vigil_plugin_methods),
	.create = good_create,
	.destroy = good_destroy,
	.poll = good_poll,
};

static const struct vigil_plugin good_plugin = {
	.size = sizeof(struct vigil_plugin),
	.abi_major = VIGIL_ABI_MAJOR,
	.abi_minor = VIGIL_ABI_MINOR,
	.name = "fixture-good",
	.version = "1.0",
	.description = "ABI fixture: a well-formed source",
	.kind = VIGIL_PLUGIN_SOURCE,
	.options = good_options,
	.n_options = sizeof good_options / sizeof good_options[0],
	.methods = &good_methods,
};

VIGIL_PLUGIN_DEFINE(good_plugin)
